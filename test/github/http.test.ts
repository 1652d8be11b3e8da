// The webhook endpoint over real HTTP, in front of a Probot whose app records what it receives:
// every refusal has its status and true reason, and bodies buffered before their signature is
// checked are bounded in size, in total and in time.

import { createHmac } from "node:crypto";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { Probot } from "probot";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ByteBudget, MAX_BODY_BYTES } from "../../src/github/http/webhookRequest.ts";
import { createWebhookServer, type WebhookLimits } from "../../src/github/http/webhookServer.ts";
import { examplePayload, testAppPrivateKey } from "../helpers/webhooks.ts";

const SECRET = "test-secret";
const KiB = 1024;

interface Received {
  id: string;
  name: string;
  payload: unknown;
}

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(opts: { limits?: Partial<WebhookLimits>; failing?: boolean } = {}) {
  const received: Received[] = [];
  const probot = new Probot({ appId: 1, privateKey: testAppPrivateKey, secret: SECRET, logLevel: "fatal" });
  const server = await createWebhookServer({
    probot,
    secret: SECRET,
    ...(opts.limits ? { limits: opts.limits } : {}),
    appFn: (app) => {
      app.onAny(async (event) => {
        if (opts.failing) throw new Error("queue unavailable");
        received.push({ id: event.id, name: event.name, payload: event.payload });
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push({ close: () => server.close() });
  server.unref();
  return { port: (server.address() as AddressInfo).port, received };
}

const signBytes = (body: Buffer | string) =>
  `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;

function headersFor(body: Buffer | string, more: Record<string, string> = {}): Record<string, string> {
  return {
    "content-type": "application/json",
    "x-github-event": "pull_request",
    "x-github-delivery": "d-1",
    "x-hub-signature-256": signBytes(body),
    ...more,
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A POST with a raw body given in parts; `end: false` leaves the request open. Resolves with the
 * answer (the server may answer before the body is sent; errors writing after that are expected).
 */
function post(
  port: number,
  headers: Record<string, string>,
  parts: (Buffer | string)[],
  opts: { end?: boolean; path?: string } = {},
): { answer: Promise<Answer>; abort(): void } {
  const req = request({
    host: "127.0.0.1",
    port,
    method: "POST",
    path: opts.path ?? "/api/github/webhooks",
    headers,
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", (err) => reject(err));
  });
  req.flushHeaders();
  for (const p of parts) req.write(p);
  if (opts.end !== false) req.end();
  return { answer, abort: () => req.destroy() };
}

const deliver = (port: number, body: Buffer | string, more: Record<string, string> = {}) =>
  post(port, headersFor(body, more), [body]).answer;

const errorOf = (a: Answer) => (JSON.parse(a.body) as { error: string }).error;

describe("the webhook endpoint", () => {
  it("hands a correctly signed delivery to the app, parsed, once", async () => {
    const { port, received } = await serve();
    const payload = examplePayload("pull_request", "opened");
    const answer = await deliver(port, JSON.stringify(payload));
    expect(answer.status).toBe(200);
    expect(received).toEqual([{ id: "d-1", name: "pull_request", payload }]);
  });

  it("verifies the signature on the raw bytes: a UTF-8 byte order mark and non-ASCII text pass", async () => {
    const { port, received } = await serve();
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('{"action":"opened","title":"héllo ✓"}'),
    ]);
    expect((await deliver(port, body)).status).toBe(200);
    expect(received.map((r) => r.payload)).toEqual([{ action: "opened", title: "héllo ✓" }]);
  });

  it("refuses a missing or wrong signature with 401 and hands nothing on", async () => {
    const { port, received } = await serve();
    const body = JSON.stringify({ action: "opened" });
    const missing = await post(port, headersFor(body, { "x-hub-signature-256": "" }), [body]).answer;
    expect([missing.status, errorOf(missing)]).toEqual([401, "missing X-Hub-Signature-256 signature"]);
    const wrong = await deliver(port, body, { "x-hub-signature-256": signBytes("something else") });
    expect([wrong.status, errorOf(wrong)]).toEqual([401, "signature does not match the body"]);
    const malformed = await deliver(port, body, { "x-hub-signature-256": "sha1=abc" });
    expect(malformed.status).toBe(401);
    expect(received).toEqual([]);
  });

  it("answers correctly signed bodies that are not a JSON object with 400 and the reason", async () => {
    const { port, received } = await serve();
    const cases: [Buffer | string, RegExp][] = [
      ["null", /^the payload is null: a webhook payload is a JSON object$/],
      ["[1]", /^the payload is an array/],
      ["42", /^the payload is a number/],
      ["", /^the body is empty/],
      ["{nope", /^the body is not JSON: /],
      [Buffer.from([0x7b, 0xff, 0x7d]), /^the body is not valid UTF-8/],
      [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}', "utf16le")]), /^the body is UTF-16/],
      [Buffer.from('{"a":1}', "utf16le"), /^the body is UTF-16/],
    ];
    for (const [body, reason] of cases) {
      const answer = await deliver(port, body);
      expect({ body: String(body), status: answer.status }).toEqual({ body: String(body), status: 400 });
      expect(errorOf(answer)).toMatch(reason);
    }
    expect(received).toEqual([]);
  });

  it("refuses event names that are not GitHub's (__proto__, error) with 400 before reading the body", async () => {
    const { port, received } = await serve();
    const body = JSON.stringify({ action: "opened" });
    for (const name of ["__proto__", "error", "constructor", "Push", "a b"]) {
      const answer = await deliver(port, body, { "x-github-event": name });
      expect([name, answer.status]).toEqual([name, 400]);
      expect(errorOf(answer)).toMatch(/^X-GitHub-Event ".*" is not an event name$/);
    }
    const missing = await post(port, { ...headersFor(body), "x-github-delivery": "" }, [body]).answer;
    expect([missing.status, errorOf(missing)]).toEqual([400, "missing X-GitHub-Delivery header"]);
    const type = await deliver(port, body, { "content-type": "application/x-www-form-urlencoded" });
    expect(type.status).toBe(415);
    expect(received).toEqual([]);
  });

  it("answers 500 when the app fails to handle a delivery (GitHub shows it as failed, to redeliver)", async () => {
    const { port } = await serve({ failing: true });
    const answer = await deliver(port, JSON.stringify({ action: "opened" }));
    expect([answer.status, errorOf(answer)]).toEqual([
      500,
      "the app failed to handle the event; see its log",
    ]);
  });

  it("refuses a body declared over GitHub's 25 MB with 413 before reading any of it", async () => {
    const budget = new ByteBudget(64 * 1024 * KiB);
    const { port } = await serve({ limits: { budget } });
    const headers = { ...headersFor("x"), "content-length": String(MAX_BODY_BYTES + 1) };
    const { answer, abort } = post(port, headers, [], { end: false });
    const a = await answer;
    abort();
    expect([a.status, a.headers.connection]).toEqual([413, "close"]);
    expect(errorOf(a)).toBe(`the body is over ${MAX_BODY_BYTES} bytes, GitHub's limit for webhook payloads`);
    expect(budget.used).toBe(0);
  });

  it("counts a body sent without a length and refuses it with 413 at GitHub's 25 MB", async () => {
    const budget = new ByteBudget(64 * 1024 * KiB);
    const { port, received } = await serve({ limits: { budget } });
    const chunk = Buffer.alloc(1024 * KiB, 0x20);
    const parts = Array.from({ length: 26 }, () => chunk);
    const { answer } = post(port, { ...headersFor("x"), "transfer-encoding": "chunked" }, parts);
    const a = await answer;
    expect(a.status).toBe(413);
    expect(received).toEqual([]);
    await vi.waitFor(() => expect(budget.used).toBe(0));
  });

  it("bounds the bytes buffered before verification across requests: 503 with Retry-After, freed when a request ends", async () => {
    const budget = new ByteBudget(300 * KiB);
    const { port, received } = await serve({ limits: { budget } });
    const big = Buffer.alloc(200 * KiB, 0x20);
    // An unsigned sender (a made-up signature) holding 200 KiB and not finishing.
    const holder = post(port, { ...headersFor("x"), "content-length": String(250 * KiB) }, [big], {
      end: false,
    });
    holder.answer.catch(() => {});
    await vi.waitFor(() => expect(budget.used).toBe(200 * KiB));

    const payload = JSON.stringify({ action: "opened", pad: " ".repeat(150 * KiB) });
    const declared = await deliver(port, payload);
    expect([declared.status, declared.headers["retry-after"]]).toEqual([503, "5"]);
    const chunked = post(port, { ...headersFor(payload), "transfer-encoding": "chunked" }, [payload]);
    expect((await chunked.answer).status).toBe(503);
    // /ping still answers meanwhile.
    expect((await fetch(`http://127.0.0.1:${port}/ping`)).status).toBe(200);

    holder.abort();
    await vi.waitFor(() => expect(budget.used).toBe(0));
    expect((await deliver(port, payload)).status).toBe(200);
    expect(received).toHaveLength(1);
    expect(budget.used).toBe(0);
  });

  it("drops a sender too slow to finish its request and frees what it held", async () => {
    const budget = new ByteBudget(1024 * KiB);
    const limits = { budget, headersTimeoutMs: 300, requestTimeoutMs: 600 };
    const { port } = await serve({ limits });
    const slow = post(
      port,
      { ...headersFor("x"), "content-length": String(100 * KiB) },
      [Buffer.alloc(10 * KiB)],
      {
        end: false,
      },
    );
    await vi.waitFor(() => expect(budget.used).toBe(10 * KiB));
    const started = Date.now();
    const outcome = await slow.answer.then(
      (a) => `answered ${a.status}`,
      (err: Error) => `closed: ${err.message}`,
    );
    expect(outcome).toMatch(/^(answered 408|closed: )/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await vi.waitFor(() => expect(budget.used).toBe(0));
  });
});
