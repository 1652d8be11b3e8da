/**
 * The one way Stackpilot runs git (the mirror, GitRepo, `git archive` for uploads). Each process
 * runs in its own process group, so a timeout kills git-remote-https, pack-objects and the rest
 * with it; it runs in a cleaned environment (gitEnv.ts); stderr is kept bounded (its tail, where
 * git says what went wrong) and stdout too where the caller sets a bound; a failure is a
 * GitProcessError carrying git's own words, redacted. `runGit` collects stdout, `streamGit` hands
 * it over as a stream (an archive piped to a host).
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { type GitEnvOptions, gitEnv } from "./gitEnv.ts";
import { redact } from "./secrets.ts";

/** Default limit of a git process that only reads and writes local files. */
export const LOCAL_TIMEOUT_MS = 2 * 60_000;
/** Default limit of a clone or fetch (and of an archive streamed to a remote reader). */
export const NETWORK_TIMEOUT_MS = 10 * 60_000;
/** stderr kept per process. */
const STDERR_TAIL = 32 * 1024;

export interface GitProcessOptions extends GitEnvOptions {
  /** Working directory (default the process's own). */
  cwd?: string;
  /** The environment git's is made from (default process.env); gitEnv cleans it. */
  env?: NodeJS.ProcessEnv;
  /** The git executable (default `git` from PATH). */
  bin?: string;
  /** Kill git's process group after this long. Default LOCAL_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Secrets to take out of git's words, besides anything credential-shaped. */
  secrets?: readonly (string | undefined)[];
}

export interface GitRunOptions extends GitProcessOptions {
  input?: string | Buffer;
  /** Most stdout bytes accepted: past them git is stopped and the call fails ("too-big"). Default none. */
  maxOutputBytes?: number;
  /** Exit codes that are answers, not failures (`merge-base --is-ancestor` says no with 1). Default [0]. */
  okCodes?: readonly number[];
}

export interface GitOutput {
  code: number;
  stdout: Buffer;
}

export interface GitStream {
  /** git's stdout. A reader that destroys it before its end stops git. */
  stdout: Readable;
  /** git's stdin, with `stdin: true`. */
  stdin: Writable | undefined;
  /**
   * Resolves when git exited cleanly, or when its reader stopped reading (the reader has its own
   * error to report); rejects with GitProcessError when git failed or ran out of time.
   */
  done: Promise<void>;
}

export type GitFailure = "exit" | "timeout" | "too-big" | "spawn";

export class GitProcessError extends Error {
  override name = "GitProcessError";
  /** `git <subcommand>`. */
  readonly command: string;
  readonly reason: GitFailure;
  readonly code: number | null;
  readonly signal: string | null;
  /** git's stderr (its tail), redacted. */
  readonly stderr: string;
  readonly timeoutMs: number;

  constructor(
    command: string,
    reason: GitFailure,
    facts: { code: number | null; signal: string | null; stderr: string; timeoutMs: number; limit?: number },
  ) {
    super(failureMessage(command, reason, facts));
    this.command = command;
    this.reason = reason;
    this.code = facts.code;
    this.signal = facts.signal;
    this.stderr = facts.stderr;
    this.timeoutMs = facts.timeoutMs;
  }
}

function failureMessage(
  command: string,
  reason: GitFailure,
  facts: { code: number | null; signal: string | null; stderr: string; timeoutMs: number; limit?: number },
): string {
  const words = lastLines(facts.stderr, 3);
  switch (reason) {
    case "timeout":
      return `${command} timed out after ${facts.timeoutMs} ms and was killed`;
    case "too-big":
      return `${command} printed more than ${facts.limit} bytes and was stopped`;
    case "spawn":
      return `${command} could not be started: ${words}`;
    default:
      return `${command} failed (${facts.code === null ? `signal ${facts.signal}` : `exit ${facts.code}`})${words ? `: ${words}` : ""}`;
  }
}

export const lastLines = (text: string, n = 5): string => text.trim().split("\n").slice(-n).join("\n");

/** git to completion, stdout collected. Throws GitProcessError unless the exit code is in okCodes. */
export async function runGit(args: readonly string[], opts: GitRunOptions = {}): Promise<GitOutput> {
  const git = new GitChild(args, opts, opts.input !== undefined);
  const chunks: Buffer[] = [];
  let bytes = 0;
  const limit = opts.maxOutputBytes ?? Number.POSITIVE_INFINITY;
  git.child.stdout?.on("data", (chunk: Buffer) => {
    if (git.stoppedFor) return;
    bytes += chunk.length;
    if (bytes > limit) {
      chunks.length = 0;
      git.stop("too-big");
    } else chunks.push(chunk);
  });
  if (opts.input !== undefined) git.child.stdin?.end(opts.input);
  const exit = await git.exited([git.child.stdout, git.child.stderr]);
  const failure = git.failure(exit, opts.okCodes ?? [0], limit);
  if (failure) throw failure;
  return { code: exit.code ?? 0, stdout: Buffer.concat(chunks) };
}

/** git with its stdout as a stream (and stdin, if asked for): for output too big to hold. */
export function streamGit(
  args: readonly string[],
  opts: GitProcessOptions & { stdin?: boolean } = {},
): GitStream {
  const git = new GitChild(args, opts, opts.stdin === true);
  const stdout = git.child.stdout as Readable;
  // Destroyed before its end: nobody reads what git writes any more.
  stdout.once("close", () => {
    if (!stdout.readableEnded) git.stop("cancelled");
  });
  // Not stdout: a reader that never reads must not keep `done` from settling once git is gone.
  const done = git.exited([git.child.stderr]).then((exit) => {
    if (git.stoppedFor === "cancelled") return;
    const failure = git.failure(exit, [0], Number.POSITIVE_INFINITY);
    if (failure) throw failure;
  });
  // Callers await `done` after the stream; an early failure must not count as unhandled meanwhile.
  done.catch(() => {});
  return { stdout, stdin: git.child.stdin ?? undefined, done };
}

interface Exit {
  code: number | null;
  signal: string | null;
  error?: Error;
}

/** One git process: spawned in its own group, timed, its stderr tail kept. */
class GitChild {
  readonly child: ChildProcess;
  readonly command: string;
  stoppedFor: "timeout" | "too-big" | "cancelled" | undefined;
  readonly #timeoutMs: number;
  readonly #secrets: readonly (string | undefined)[];
  readonly #exit: Promise<Exit>;
  #stderr = "";

  constructor(args: readonly string[], opts: GitProcessOptions, withStdin: boolean) {
    this.command = `git ${args[0] ?? ""}`.trim();
    this.#timeoutMs = opts.timeoutMs ?? LOCAL_TIMEOUT_MS;
    this.#secrets = opts.secrets ?? [];
    this.child = spawn(opts.bin ?? "git", args, {
      cwd: opts.cwd,
      env: gitEnv(opts.env ?? process.env, opts),
      stdio: [withStdin ? "pipe" : "ignore", "pipe", "pipe"],
      detached: true,
    });
    // git may exit before reading all its input; its exit status says what happened.
    this.child.stdin?.on("error", () => {});
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr += chunk.toString();
      if (this.#stderr.length > 2 * STDERR_TAIL) this.#stderr = this.#stderr.slice(-STDERR_TAIL);
    });
    const timer = setTimeout(() => this.stop("timeout"), this.#timeoutMs);
    this.#exit = new Promise<Exit>((resolve) => {
      this.child.once("error", (error) => resolve({ code: null, signal: null, error }));
      this.child.once("exit", (code, signal) => resolve({ code, signal }));
    }).finally(() => clearTimeout(timer));
  }

  /** Kills the whole group (git's helpers too). */
  stop(why: "timeout" | "too-big" | "cancelled"): void {
    if (this.stoppedFor) return;
    this.stoppedFor = why;
    try {
      if (this.child.pid) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      this.child.kill("SIGKILL");
    }
  }

  /** The exit, once git is gone and `streams` (ours to read) are drained. */
  async exited(streams: readonly (Readable | null)[]): Promise<Exit> {
    const exit = await this.#exit;
    if (!exit.error) await Promise.all(streams.map((s) => (s ? finished(s).catch(() => {}) : undefined)));
    return exit;
  }

  failure(exit: Exit, okCodes: readonly number[], limit: number): GitProcessError | undefined {
    const facts = {
      code: exit.code,
      signal: exit.signal,
      stderr: redact(exit.error ? String(exit.error.message) : this.#stderr, this.#secrets),
      timeoutMs: this.#timeoutMs,
      limit,
    };
    if (exit.error) return new GitProcessError(this.command, "spawn", facts);
    if (this.stoppedFor === "timeout") return new GitProcessError(this.command, "timeout", facts);
    if (this.stoppedFor === "too-big") return new GitProcessError(this.command, "too-big", facts);
    if (exit.code !== null && okCodes.includes(exit.code)) return undefined;
    return new GitProcessError(this.command, "exit", facts);
  }
}
