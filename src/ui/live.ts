/**
 * A running deployment's log as Server-Sent Events, read from the state store (polled), never
 * from this process's memory: any replica serves any deployment, and a restart loses nothing.
 * Events: `log` (one recorded command, its seq as the event id, so a reconnecting EventSource
 * resumes after the last one it got), `status` (the stored status, and the word and tone the page
 * shows for it), and `end` once the deployment has ended and every command was sent (with its
 * error and its start and finish times as the page writes them). A stream lasts at most `maxStreamMs` (the browser reconnects).
 */
import type { ServerResponse } from "node:http";
import type { DeploymentStatus } from "../state/deployments.ts";
import type { DeploymentProgress } from "../state/overview.ts";
import { canRead } from "./auth/principal.ts";
import type { Authed } from "./context.ts";
import { HttpError } from "./http.ts";
import { resultOf, when } from "./pages/format.ts";

const BATCH = 100;
const KEEPALIVE_MS = 15_000;
const ACTIVE = new Set(["queued", "running"]);

export class LiveStreams {
  /** Open streams, each with what stops it. */
  readonly #open = new Map<ServerResponse, AbortController>();
  readonly #pollMs: number;
  readonly #maxStreamMs: number;
  readonly #max: number;

  constructor(opts: { pollMs?: number; maxStreamMs?: number; maxStreams?: number } = {}) {
    this.#pollMs = opts.pollMs ?? 500;
    this.#maxStreamMs = opts.maxStreamMs ?? 5 * 60_000;
    this.#max = opts.maxStreams ?? 200;
  }

  get open(): number {
    return this.#open.size;
  }

  async stream(r: Authed, id: number): Promise<void> {
    const after = startAfter(r);
    const first = await r.deps.store.deploymentProgress(id, after, BATCH);
    if (!first || !canRead(r.principal, first.repo)) throw new HttpError(404, `no deployment ${id}`);
    if (this.#open.size >= this.#max) throw new HttpError(503, "too many live logs are open; reload later");
    const { res } = r;
    const events = this.#start(res);
    try {
      await this.#follow(events, first, after, (seq) => r.deps.store.deploymentProgress(id, seq, BATCH));
    } finally {
      this.#open.delete(res);
      res.end();
    }
  }

  /** Answers with an event stream, open (and counted) until the browser leaves or it is stopped. */
  #start(res: ServerResponse): EventStream {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      "x-content-type-options": "nosniff",
    });
    const stopped = new AbortController();
    this.#open.set(res, stopped);
    res.on("close", () => {
      stopped.abort();
      this.#open.delete(res);
    });
    return new EventStream(res, stopped.signal);
  }

  /**
   * Sends each batch of progress and polls for the next, until the deployment has ended and every
   * command was sent, the stream is stopped, or it has lasted `maxStreamMs`.
   */
  async #follow(
    events: EventStream,
    first: DeploymentProgress,
    after: number,
    next: (seq: number) => Promise<DeploymentProgress | undefined>,
  ): Promise<void> {
    const started = Date.now();
    let seq = after;
    let status: DeploymentStatus | undefined;
    let progress: DeploymentProgress | undefined = first;
    while (!events.stopped.aborted && progress) {
      seq = sendLogs(events, progress.logs, seq);
      if (progress.status !== status) {
        status = progress.status;
        events.send("status", statusData(progress.status));
      }
      // A full batch may have more behind it: the end waits until a batch comes back short.
      if (!ACTIVE.has(progress.status) && progress.logs.length < BATCH) {
        sendEnd(events, progress);
        break;
      }
      if (Date.now() - started > this.#maxStreamMs) break;
      if (progress.logs.length < BATCH) await sleep(this.#pollMs, events.stopped);
      events.keepalive();
      if (events.stopped.aborted) break;
      progress = await next(seq);
    }
  }

  /** Ends every open stream (the server is stopping; browsers reconnect elsewhere). */
  closeAll(): void {
    for (const stopped of this.#open.values()) stopped.abort();
  }
}

/** One browser's event stream: writes nothing once stopped; its last write paces the keepalives. */
class EventStream {
  readonly stopped: AbortSignal;
  readonly #res: ServerResponse;
  #lastWrite = Date.now();

  constructor(res: ServerResponse, stopped: AbortSignal) {
    this.#res = res;
    this.stopped = stopped;
  }

  /** One event; `id` is what a reconnecting EventSource sends back as Last-Event-ID. */
  send(event: string, data: unknown, id?: number): void {
    this.#write(`${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A comment after `KEEPALIVE_MS` of silence, so proxies keep the connection open. */
  keepalive(): void {
    if (Date.now() - this.#lastWrite > KEEPALIVE_MS) this.#write(": keepalive\n\n");
  }

  #write(text: string): void {
    if (!this.stopped.aborted) this.#res.write(text);
    this.#lastWrite = Date.now();
  }
}

/** Sends each recorded command as a `log` event; returns the seq of the last one sent. */
function sendLogs(events: EventStream, logs: DeploymentProgress["logs"], seq: number): number {
  let last = seq;
  for (const l of logs) {
    events.send("log", { seq: l.seq, command: l.command, code: l.code, output: l.output }, l.seq);
    last = l.seq;
  }
  return last;
}

/** The `end` event: the final status, its error, and its times as the page writes them. */
function sendEnd(events: EventStream, progress: DeploymentProgress): void {
  events.send("end", {
    ...statusData(progress.status),
    error: progress.error,
    started: when(progress.startedAt),
    finished: when(progress.finishedAt),
  });
}

/** A status as the page shows it (the same word and tone), and as stored. */
function statusData(status: DeploymentStatus): { status: DeploymentStatus; word: string; tone: string } {
  const { word, tone } = resultOf(status);
  return { status, word, tone };
}

/** Resume point: the EventSource's Last-Event-ID, else `?after=`, else the start. */
function startAfter(r: Authed): number {
  const raw = r.req.headers["last-event-id"] ?? r.url.searchParams.get("after") ?? "0";
  const n = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(400, "after must be a command's number");
  return n;
}

/** Waits `ms`, or less when the stream is stopped. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
