/**
 * The one executor of remote commands: quotes argv, runs it on a host, records what ran and what
 * it printed (bounded, secrets redacted). Every deploy step goes through `run`.
 */
import { boundText } from "../state/logBounds.ts";
import { type Argv, commandLine } from "./shell.ts";
import type { RemoteExecOptions, RemoteResult } from "./ssh/exec.ts";

export type { RemoteExecOptions, RemoteResult };

/** What the runner needs from a transport (the SSH pool in production). */
export interface RemoteExec {
  exec(host: string, commandLine: string, opts?: RemoteExecOptions): Promise<RemoteResult>;
}

export interface CommandRecord {
  host: string;
  argv: Argv;
  line: string;
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export class RemoteCommandError extends Error {
  override name = "RemoteCommandError";
  readonly record: CommandRecord;
  constructor(record: CommandRecord) {
    const detail = (record.stderr || record.stdout).trim().split("\n").slice(-5).join("\n");
    super(
      `${record.host}: \`${record.line}\` exited with ${record.code ?? "a signal"}${detail ? `:\n${detail}` : ""}`,
    );
    this.record = record;
  }
}

/**
 * Output kept per stream of a command: its start and (mostly) its end, where errors and a hook's
 * verdict are, with a marker where the rest was cut (the full output is not stored anywhere).
 */
export const MAX_OUTPUT = 64 * 1024;

export interface RunnerOptions {
  /** Replace secrets in recorded output. */
  redact?: (text: string) => string;
  /** Called with every finished command, e.g. to store it with the deployment. */
  onRecord?: (record: CommandRecord) => void;
}

export class Runner {
  readonly #remote: RemoteExec;
  readonly #opts: RunnerOptions;

  constructor(remote: RemoteExec, opts: RunnerOptions = {}) {
    this.#remote = remote;
    this.#opts = opts;
  }

  /** Run and fail with RemoteCommandError on a non-zero exit (unless `allowFailure`). */
  async run(
    host: string,
    argv: Argv,
    opts: RemoteExecOptions & { allowFailure?: boolean } = {},
  ): Promise<CommandRecord> {
    const line = commandLine(argv);
    const result = await this.#remote.exec(host, line, opts);
    const redact = this.#opts.redact ?? ((s: string) => s);
    const record: CommandRecord = {
      host,
      argv,
      line: redact(line),
      code: result.code,
      stdout: bound(redact(result.stdout)),
      stderr: bound(redact(result.stderr)),
      durationMs: result.durationMs,
    };
    this.#opts.onRecord?.(record);
    if (result.code !== 0 && !opts.allowFailure) throw new RemoteCommandError(record);
    return record;
  }
}

function bound(text: string): string {
  return boundText(text, MAX_OUTPUT).text;
}

/** A redactor for a set of secret strings (tokens, passwords): each occurrence becomes `***`. */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const live = secrets.filter((s) => s.length >= 4);
  return (text) => live.reduce((t, s) => t.split(s).join("***"), text);
}
