/** `stackpilot stop STACK`: see power.ts. */
import type { Io } from "./main.ts";
import { powerCommand, powerHelp } from "./power.ts";

export const STOP_HELP = powerHelp("stop");
export const stopCommand = (argv: string[], io: Io) => powerCommand("stop", argv, io);
