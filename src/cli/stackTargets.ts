/**
 * What `rollback`, `stop` and `start` share: the records of one stack on the hosts `--host`
 * matches (every host it is deployed on without it), acted on within one session.
 */
import { resolve } from "node:path";
import { GitRepo } from "../git/repo.ts";
import type { DeployedState } from "../state/deployed.ts";
import { compileGlob } from "../util/glob.ts";
import type { Options } from "./args.ts";
import type { Io } from "./main.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir, type Session } from "./session.ts";
import { withSession } from "./withState.ts";

/** The options of every command on one stack's targets. */
export const STACK_TARGET_OPTIONS = {
  host: { type: "string", multiple: true },
  repo: { type: "string", default: "." },
  hosts: { type: "string" },
  data: { type: "string" },
} as const satisfies Options;

export interface StackTargets {
  session: Session;
  repoId: string;
  targets: DeployedState[];
}

/** Runs `act` on the stack's targets; none is an error (exit status 1), said as `stackpilot <command>`. */
export async function onStackTargets(
  command: string,
  io: Io,
  o: {
    stack: string;
    /** `--host` globs. */
    host?: string[] | undefined;
    repo: string;
    hostsFile: string;
    data?: string | undefined;
    err?: (line: string) => void;
  },
  act: (t: StackTargets) => Promise<number>,
): Promise<number> {
  const repoId = await repoIdentity(new GitRepo(resolve(o.repo)));
  const dataDir = defaultDataDir(o.data);
  return withSession(
    { hostsFile: o.hostsFile, dataDir, ...(o.err ? { err: o.err } : {}) },
    async (session) => {
      const hostOk = o.host?.length ? compileGlob(o.host) : () => true;
      const targets = (await session.store.getDeployed(repoId)).filter(
        (d) => d.stack === o.stack && hostOk(d.host),
      );
      if (targets.length === 0) {
        io.err(`stackpilot ${command}: ${o.stack} is not deployed on any${o.host ? " matching" : ""} host\n`);
        return 1;
      }
      return act({ session, repoId, targets });
    },
  );
}
