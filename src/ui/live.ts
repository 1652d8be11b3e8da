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
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      "x-content-type-options": "nosniff",
    });
    const stopped = new AbortController();
    this.#open.set(res, stopped);
    const stop = () => {
      stopped.abort();
      this.#open.delete(res);
    };
    res.on("close", stop);
    const write = (text: string) => {
      if (!stopped.signal.aborted) res.write(text);
    };
    const started = Date.now();
    let lastWrite = Date.now();
    let seq = after;
    let status: string | undefined;
    let progress: typeof first | undefined = first;
    try {
      while (!stopped.signal.aborted && progress) {
        for (const l of progress.logs) {
          const data = { seq: l.seq, command: l.command, code: l.code, output: l.output };
          write(`id: ${l.seq}\nevent: log\ndata: ${JSON.stringify(data)}\n\n`);
          seq = l.seq;
          lastWrite = Date.now();
        }
        if (progress.status !== status) {
          status = progress.status;
          write(`event: status\ndata: ${JSON.stringify(statusData(progress.status))}\n\n`);
          lastWrite = Date.now();
        }
        if (!ACTIVE.has(progress.status) && progress.logs.length < BATCH) {
          const end = {
            ...statusData(progress.status),
            error: progress.error,
            started: when(progress.startedAt),
            finished: when(progress.finishedAt),
          };
          write(`event: end\ndata: ${JSON.stringify(end)}\n\n`);
          break;
        }
        if (Date.now() - started > this.#maxStreamMs) break;
        if (progress.logs.length < BATCH) await sleep(this.#pollMs, stopped.signal);
        if (Date.now() - lastWrite > KEEPALIVE_MS) {
          write(": keepalive\n\n");
          lastWrite = Date.now();
        }
        if (stopped.signal.aborted) break;
        progress = await r.deps.store.deploymentProgress(id, seq, BATCH);
      }
    } finally {
      this.#open.delete(res);
      res.end();
    }
  }

  /** Ends every open stream (the server is stopping; browsers reconnect elsewhere). */
  closeAll(): void {
    for (const stopped of this.#open.values()) stopped.abort();
  }
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
