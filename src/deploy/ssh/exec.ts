/**
 * One command on one exec channel: feed stdin (with backpressure), collect bounded output, and end
 * with a result or a clear error, never a hang: a timeout kills the command (TERM, then KILL after a
 * grace period, then close), and a connection that drops mid-command rejects at once.
 */
import { StringDecoder } from "node:string_decoder";
import type { Client, ClientChannel } from "ssh2";
import { CommandTimeoutError, ConnectionLostError, SshError } from "./errors.ts";

export interface RemoteResult {
  /** Exit status; null when the command was killed by a signal. */
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Bytes dropped from the start of each stream to stay within maxOutputBytes. */
  truncated?: { stdout: number; stderr: number };
}

export interface RemoteExecOptions {
  stdin?: string | Buffer | NodeJS.ReadableStream;
  /**
   * Kill the command after this long (measured from when the channel opened). Without one (or
   * with 0), the transport's default applies: no remote command runs unbounded.
   */
  timeoutMs?: number;
  /** Output kept per stream; the tail is kept (errors come last). onData still sees everything. */
  maxOutputBytes?: number;
  onData?(chunk: string, stream: "stdout" | "stderr"): void;
}

export interface ChannelContext {
  host: string;
  /** Why the connection is gone, if it is (checked when a channel closes without an exit status). */
  lostReason(): string | undefined;
  killGraceMs: number;
  defaultMaxOutputBytes: number;
  /** The limit of a command that names none. */
  defaultTimeoutMs: number;
}

export interface ExecChannel {
  channel: ClientChannel;
  /** Recorded from the moment the channel opens: a fast command's exit can arrive in the same packet batch. */
  exit?: { code: number | null; signal?: string };
  closed: boolean;
}

export class ChannelOpenTimeout extends Error {
  override name = "ChannelOpenTimeout";
}

/** Open an exec channel; bounded so a host that never answers the open cannot hang us. */
export function openExec(client: Client, commandLine: string, timeoutMs: number): Promise<ExecChannel> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new ChannelOpenTimeout(`no answer to a channel open within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      client.exec(commandLine, (err, channel) => {
        clearTimeout(timer);
        if (done) {
          // Too late: the caller got an error, so the command must not run on unobserved.
          if (channel) {
            sendSignal(channel, "KILL");
            channel.close();
          }
          return;
        }
        done = true;
        if (err) return reject(err);
        // Listen synchronously: ssh2 emits 'exit' once, possibly before a promise continuation runs.
        const opened: ExecChannel = { channel, closed: false };
        channel.on("exit", (code: number | null, signal?: string) => {
          opened.exit = { code: typeof code === "number" ? code : null, ...(signal ? { signal } : {}) };
        });
        channel.on("close", () => {
          opened.closed = true;
        });
        resolve(opened);
      });
    } catch (err) {
      clearTimeout(timer);
      done = true;
      reject(err);
    }
  });
}

/** Keeps the last `limit` bytes of a stream. */
class Tail {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  dropped = 0;
  constructor(limit: number) {
    this.#limit = limit;
  }
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    while (this.#size > this.#limit && this.#chunks.length > 0) {
      const first = this.#chunks[0] as Buffer;
      const excess = this.#size - this.#limit;
      if (first.length <= excess) {
        this.#chunks.shift();
        this.#size -= first.length;
        this.dropped += first.length;
      } else {
        this.#chunks[0] = first.subarray(excess);
        this.#size -= excess;
        this.dropped += excess;
      }
    }
  }
  text(): string {
    let buf = Buffer.concat(this.#chunks);
    // A cut may land inside a UTF-8 sequence: skip continuation bytes at the start.
    if (this.dropped > 0) {
      let i = 0;
      while (i < buf.length && i < 4 && ((buf[i] as number) & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString("utf8");
  }
}

/** ssh2's Channel.signal() is a no-op once stdin is ended; the protocol allows it until close. */
function sendSignal(channel: ClientChannel, name: string): void {
  const ch = channel as unknown as {
    outgoing?: { state?: string; id?: number };
    _client?: { _protocol?: { signal(id: number, sig: string): void } };
  };
  const state = ch.outgoing?.state;
  if ((state !== "open" && state !== "eof") || ch.outgoing?.id === undefined) return;
  try {
    ch._client?._protocol?.signal(ch.outgoing.id, name);
  } catch {
    /* the connection is already gone */
  }
}

/** Both output streams of one command: the tails kept for the result, decoded text for onData. */
class Output {
  readonly stdout: Tail;
  readonly stderr: Tail;
  readonly #decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  readonly #opts: Pick<RemoteExecOptions, "onData">;
  constructor(limit: number, opts: Pick<RemoteExecOptions, "onData">) {
    this.stdout = new Tail(limit);
    this.stderr = new Tail(limit);
    this.#opts = opts;
  }
  /** The 'data' listener of one stream. */
  listener(stream: "stdout" | "stderr"): (chunk: Buffer) => void {
    return (chunk) => {
      this[stream].push(chunk);
      if (this.#opts.onData) {
        const text = this.#decoders[stream].write(chunk);
        if (text) this.#opts.onData(text, stream);
      }
    };
  }
  /** Hand onData what the decoders still hold: a stream may end inside a UTF-8 sequence. */
  flush(): void {
    for (const s of ["stdout", "stderr"] as const) {
      const rest = this.#decoders[s].end();
      if (rest && this.#opts.onData) this.#opts.onData(rest, s);
    }
  }
  partial(): { stdout: string; stderr: string } {
    return { stdout: this.stdout.text(), stderr: this.stderr.text() };
  }
}

/** What the steps of one running command share. */
interface Run {
  readonly opened: ExecChannel;
  readonly ctx: ChannelContext;
  readonly timeoutMs: number;
  readonly output: Output;
  /** Every timer started for the command; all are cleared when it settles. */
  readonly timers: NodeJS.Timeout[];
  /** Set once the limit expired: the close that follows is a timeout, not a lost connection. */
  timedOut: boolean;
  /** Settles once (an error rejects, no error resolves with the result); later calls do nothing. */
  finish(err?: Error): void;
}

export function runOnChannel(
  opened: ExecChannel,
  ctx: ChannelContext,
  opts: RemoteExecOptions = {},
): Promise<RemoteResult> {
  const started = performance.now();
  const output = new Output(opts.maxOutputBytes ?? ctx.defaultMaxOutputBytes, opts);
  const timeoutMs =
    opts.timeoutMs !== undefined && opts.timeoutMs > 0 ? opts.timeoutMs : ctx.defaultTimeoutMs;
  const stdin = opts.stdin;
  const source =
    stdin !== undefined && typeof stdin !== "string" && !Buffer.isBuffer(stdin) ? stdin : undefined;

  return new Promise<RemoteResult>((resolve, reject) => {
    let settled = false;
    const run: Run = {
      opened,
      ctx,
      timeoutMs,
      output,
      timers: [],
      timedOut: false,
      finish(err) {
        if (settled) return;
        settled = true;
        for (const t of run.timers) clearTimeout(t);
        if (source) releaseStdin(source, opened.channel);
        if (err) return reject(err);
        resolve(resultOf(opened, output, started));
      },
    };
    collectOutput(run);
    endOnClose(run);
    armTimeout(run);
    if (source) pipeStdin(run, source);
    else opened.channel.end(stdin ?? "");
  });
}

function collectOutput({ opened: { channel }, output }: Run): void {
  channel.on("data", output.listener("stdout"));
  channel.stderr.on("data", output.listener("stderr"));
}

/** Settle when the channel closes (once stderr has drained, or after 1 s) or reports an error. */
function endOnClose(run: Run): void {
  const { opened, ctx } = run;
  const { channel } = opened;
  // ssh2 may emit the channel's 'close' while stderr still holds buffered data.
  const stderrDone = new Promise<void>((r) => {
    if (channel.stderr.readableEnded || channel.stderr.destroyed) r();
    channel.stderr.once("end", r).once("close", r);
  });
  const stderrSettled = () =>
    Promise.race([stderrDone, new Promise<void>((r) => run.timers.push(setTimeout(r, 1000)))]);
  if (opened.closed) void stderrSettled().then(() => onClosed(run));
  else channel.on("close", () => void stderrSettled().then(() => onClosed(run)));
  channel.on("error", (err: Error) =>
    run.finish(new SshError(ctx.host, `channel error on ${ctx.host}: ${err.message}`)),
  );
}

function onClosed(run: Run): void {
  const err = closeError(run);
  if (err) {
    run.finish(err);
  } else {
    run.output.flush();
    run.finish();
  }
}

/** Why a closed channel failed the command; undefined when it closed after an exit status. */
function closeError(run: Run): Error | undefined {
  const { opened, ctx } = run;
  // ssh2 emits channel 'close' after the connection's own 'close', so the reason is known here.
  const lost = ctx.lostReason();
  if (run.timedOut) return timeoutError(run);
  if (lost !== undefined && !opened.exit)
    return new ConnectionLostError(
      ctx.host,
      `connection to ${ctx.host} was lost while the command ran: ${lost}`,
    );
  if (!opened.exit)
    return new ConnectionLostError(ctx.host, `${ctx.host} closed the channel without an exit status`);
  return undefined;
}

/** At the limit, stop the command: TERM first, KILL after the grace period. */
function armTimeout(run: Run): void {
  run.timers.push(setTimeout(() => terminate(run), run.timeoutMs));
}

function terminate(run: Run): void {
  run.timedOut = true;
  sendSignal(run.opened.channel, "TERM");
  run.timers.push(setTimeout(() => forceClose(run), run.ctx.killGraceMs));
}

function forceClose(run: Run): void {
  sendSignal(run.opened.channel, "KILL");
  run.opened.channel.close();
  // The host should confirm the close; if it does not, do not wait for it.
  run.timers.push(setTimeout(() => run.finish(timeoutError(run)), 2000));
}

const timeoutError = ({ ctx, timeoutMs, output }: Run): CommandTimeoutError =>
  new CommandTimeoutError(ctx.host, timeoutMs, output.partial());

/** Stream stdin with backpressure; a failing producer kills the command. */
function pipeStdin(run: Run, source: NodeJS.ReadableStream): void {
  const { opened, ctx } = run;
  source.on("error", (err: Error) => {
    sendSignal(opened.channel, "KILL");
    opened.channel.close();
    run.finish(
      new SshError(ctx.host, `stdin for the command on ${ctx.host} failed: ${err.message}`, {
        cause: err,
      }),
    );
  });
  source.pipe(opened.channel);
}

function releaseStdin(source: NodeJS.ReadableStream, channel: ClientChannel): void {
  source.unpipe(channel);
  // Like a child process's stdin: an unconsumed producer (e.g. `git archive`) must not block forever.
  const s = source as unknown as { readableEnded?: boolean; destroy?: () => void };
  if (!s.readableEnded) s.destroy?.();
}

function resultOf(opened: ExecChannel, output: Output, started: number): RemoteResult {
  const result: RemoteResult = {
    code: opened.exit?.code ?? null,
    ...(opened.exit?.signal ? { signal: opened.exit.signal } : {}),
    stdout: output.stdout.text(),
    stderr: output.stderr.text(),
    durationMs: Math.round(performance.now() - started),
  };
  if (output.stdout.dropped || output.stderr.dropped)
    result.truncated = { stdout: output.stdout.dropped, stderr: output.stderr.dropped };
  return result;
}
