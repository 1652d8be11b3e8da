/** `stackpilot start STACK`: see power.ts. */
import type { Io } from "./main.ts";
import { powerCommand, powerHelp } from "./power.ts";

export const START_HELP = powerHelp("start");
export const startCommand = (argv: string[], io: Io) => powerCommand("start", argv, io);
