/**
 * git on a mirror: always GIT_DIR (never discovery), the installation token through the
 * environment for network commands only, a long limit for network and maintenance work and a short
 * one for the rest, and failures as MirrorError with git's words redacted (and logged).
 */
import { mkdir } from "node:fs/promises";
import { runGit } from "./gitProcess.ts";
import { mirrorErrorOf } from "./mirrorErrors.ts";
import { tokenConfig } from "./secrets.ts";

export type MirrorLogLevel = "debug" | "info" | "warn";

export interface MirrorGitOptions {
  /** cwd of every git (a directory that always exists); created on first use. */
  root: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  /** Limit of a clone, fetch or gc. */
  networkTimeoutMs: number;
  /** Limit of everything else. */
  localTimeoutMs: number;
  log: (level: MirrorLogLevel, message: string) => void;
}

/** The mirror's directory, and for messages and auth its name and `scheme://host[:port]/`. */
export interface GitTarget {
  dir: string;
  fullName?: string;
  origin?: string;
}

export interface MirrorGitCall {
  /** The installation token, sent only with `network`. */
  token?: string | undefined;
  /** Talks to the origin: auth header, long limit, failures logged as warnings. */
  network?: boolean;
  /** Local but possibly long (gc): the long limit. */
  long?: boolean;
  input?: string;
}

/** Runs git on a mirror; resolves with its stdout, rejects with MirrorError. */
export type MirrorGit = (t: GitTarget, args: string[], call?: MirrorGitCall) => Promise<string>;

export function mirrorGit(opts: MirrorGitOptions): MirrorGit {
  return async (t, args, call = {}) => {
    const network = call.network === true;
    const config = network && call.token && t.origin ? [tokenConfig(t.origin, call.token)] : [];
    const started = Date.now();
    await mkdir(opts.root, { recursive: true });
    try {
      const { stdout } = await runGit(args, {
        cwd: opts.root,
        env: opts.env,
        bin: opts.bin,
        gitDir: t.dir,
        config,
        timeoutMs: network || call.long ? opts.networkTimeoutMs : opts.localTimeoutMs,
        secrets: [call.token],
        ...(call.input === undefined ? {} : { input: call.input }),
      });
      if (network) opts.log("debug", `git ${args[0]} ${t.fullName ?? t.dir}: ${Date.now() - started} ms`);
      return stdout.toString();
    } catch (err) {
      const error = mirrorErrorOf(err, {
        who: t.fullName ?? t.dir,
        origin: t.origin,
        hadToken: !!call.token,
      });
      opts.log(network ? "warn" : "debug", error.message);
      throw error;
    }
  };
}
