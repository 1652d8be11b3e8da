/**
 * The request stream of the webhook benchmark and its open-loop load generator.
 *
 * The stream is built once (seeded, so both targets get the very same one): real example payloads
 * (pull_request.opened, push to the default branch, issue_comment.created on a PR), each new
 * delivery with a unique id, ~5% redeliveries of an earlier id (same body and signature, as GitHub
 * does) and ~1% bad signatures (new ids, signed with another secret; must get 401, create no job).
 *
 * The generator is open-loop: request i is sent at t0 + i * interval whatever the earlier ones are
 * doing, and its time to response is measured from that scheduled time (so a stall in the server,
 * or in the generator itself, shows up instead of being hidden by coordinated omission).
 */
import { request } from "node:http";
import { performance } from "node:perf_hooks";
import { jobFor } from "../../src/github/events.ts";
import { WEBHOOK_PATH } from "../../src/github/http/webhookServer.ts";
import { examplePayloads, sign } from "../../test/helpers/webhooks.ts";

export type Kind = "new" | "redelivery" | "badsig";

export interface Delivery {
  id: string;
  event: string;
  kind: Kind;
  body: Buffer;
  signature: string;
}

export interface Outcome {
  /** HTTP status, or undefined on a network error or timeout. */
  status: number | undefined;
  error?: string;
  /** Time to the end of the response, from the scheduled send time (ms). */
  ms: number;
  /** Actual send time minus scheduled send time (ms): the generator's own lag. */
  lagMs: number;
}

/** mulberry32: a tiny seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Template {
  event: string;
  body: Buffer;
}

/** The payload templates; each checked to ask for a job, or the queue count would mean nothing. */
export function templates(): Template[] {
  const out: Template[] = [];
  const add = (header: string, fullEvent: string, payload: Record<string, unknown>) => {
    payload.installation ??= { id: 1234, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMTIzNA==" };
    if (!jobFor(fullEvent, payload)) throw new Error(`example ${fullEvent} asks for no job`);
    out.push({ event: header, body: Buffer.from(JSON.stringify(payload)) });
  };
  for (const p of examplePayloads("pull_request", "opened")) add("pull_request", "pull_request.opened", p);
  for (const p of examplePayloads("push")) {
    const repo = p.repository as { default_branch: string };
    if (p.ref === `refs/heads/${repo.default_branch}` && !p.deleted) add("push", "push", p);
  }
  for (const p of examplePayloads("issue_comment", "created")) {
    // The examples are comments on plain issues; a comment on a PR carries issue.pull_request.
    const issue = p.issue as { number: number; pull_request?: { url: string } };
    const repo = p.repository as { url: string };
    issue.pull_request ??= { url: `${repo.url}/pulls/${issue.number}` };
    add("issue_comment", "issue_comment.created", p);
  }
  return out;
}

export function buildStream(opts: {
  count: number;
  secret: string;
  seed?: number;
  redeliveryRate?: number;
  badSignatureRate?: number;
}): Delivery[] {
  const next = rng(opts.seed ?? 42);
  const all = templates();
  const byEvent = ["pull_request", "push", "issue_comment"].map((e) => all.filter((t) => t.event === e));
  const signed = new Map<Buffer, string>();
  const sig = (b: Buffer) => {
    let s = signed.get(b);
    if (!s) {
      s = sign(b.toString("utf8"), opts.secret);
      signed.set(b, s);
    }
    return s;
  };
  const stream: Delivery[] = [];
  const good: Delivery[] = [];
  for (let i = 0; i < opts.count; i++) {
    const r = next();
    const pick = () => {
      const group = byEvent[i % byEvent.length] as Template[];
      return group[Math.floor(next() * group.length)] as Template;
    };
    if (r < (opts.badSignatureRate ?? 0.01)) {
      const t = pick();
      stream.push({
        id: `bench-bad-${i}`,
        event: t.event,
        kind: "badsig",
        body: t.body,
        signature: sign(t.body.toString("utf8"), `not-${opts.secret}`),
      });
    } else if (r < (opts.badSignatureRate ?? 0.01) + (opts.redeliveryRate ?? 0.05) && good.length > 0) {
      const orig = good[Math.floor(next() * good.length)] as Delivery;
      stream.push({ ...orig, kind: "redelivery" });
    } else {
      const t = pick();
      const d: Delivery = {
        id: `bench-${i}`,
        event: t.event,
        kind: "new",
        body: t.body,
        signature: sig(t.body),
      };
      stream.push(d);
      good.push(d);
    }
  }
  return stream;
}

/** One delivery over a fresh loopback connection (as GitHub's deliveries come), response read whole. */
function post(port: number, d: Delivery, scheduled: number, timeoutMs: number): Promise<Outcome> {
  const lagMs = performance.now() - scheduled;
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: number | undefined, error?: string) => {
      if (done) return;
      done = true;
      resolve({ status, ms: performance.now() - scheduled, lagMs, ...(error ? { error } : {}) });
    };
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: WEBHOOK_PATH,
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": d.body.length,
          "user-agent": "GitHub-Hookshot/bench",
          "x-github-event": d.event,
          "x-github-delivery": d.id,
          "x-github-hook-id": "1",
          "x-hub-signature-256": d.signature,
        },
        timeout: timeoutMs,
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => finish(res.statusCode));
        res.on("error", (err) => finish(undefined, err.message));
      },
    );
    req.on("timeout", () => {
      req.destroy(new Error(`timeout after ${timeoutMs} ms`));
    });
    req.on("error", (err) => finish(undefined, err.message));
    req.end(d.body);
  });
}

/** Sends sequentially, unmeasured (JIT, first-request lazy loading); returns the outcomes. */
export async function warmUp(port: number, deliveries: Delivery[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const d of deliveries) out.push(await post(port, d, performance.now(), 30_000));
  return out;
}

/** The open-loop run: request i at t0 + i * intervalMs; resolves when every response is in. */
export function runOpenLoop(
  port: number,
  stream: Delivery[],
  intervalMs: number,
  timeoutMs = 30_000,
): Promise<{ outcomes: Outcome[]; wallMs: number }> {
  const outcomes: Outcome[] = new Array(stream.length);
  const pending: Promise<void>[] = [];
  const t0 = performance.now() + 20;
  let i = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Catch up on everything due (a late timer sends a burst, as an open-loop client must).
      while (i < stream.length && t0 + i * intervalMs <= now) {
        const k = i++;
        pending.push(
          post(port, stream[k] as Delivery, t0 + k * intervalMs, timeoutMs).then((o) => {
            outcomes[k] = o;
          }),
        );
      }
      if (i < stream.length) {
        setTimeout(tick, Math.max(0, t0 + i * intervalMs - performance.now()));
      } else {
        void Promise.all(pending).then(() => resolve({ outcomes, wallMs: performance.now() - t0 }));
      }
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
}

/** The q-quantile (nearest rank) of a sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}
