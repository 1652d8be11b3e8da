/**
 * Delivery to a real HTTP receiver on loopback: what each kind of channel receives (a signed JSON
 * body, Slack's and Discord's formats with outside text defused), retries of what may pass later
 * and none of what cannot, bounded time and size, and a webhook URL never repeated in errors.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { NotificationChannel } from "../../src/config/notifications.ts";
import { renderRequest, SIGNATURE_HEADER } from "../../src/notify/channels.ts";
import { DeliveryError, deliver, urlRedactor } from "../../src/notify/deliver.ts";
import { boundMessage, type Message } from "../../src/notify/message.ts";
import { deliveryWorker, inProcessDispatch } from "../../src/notify/queue.ts";

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server;
let base: string;
const received: Received[] = [];
/** How the receiver answers the next requests (shifted per request); default 200. */
const answers: ((res: ServerResponse) => void)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const answer = answers.shift();
      if (answer) answer(res);
      else res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => {
  received.length = 0;
  answers.length = 0;
});

const SECRET = "s3cret-signing-key";
const env = (url: string) => ({ HOOK_URL: url, HOOK_SECRET: SECRET });

const message: Message = {
  event: "drift",
  phase: "alert",
  repo: "acme/infra",
  stack: "web",
  host: "app-1",
  commit: "a".repeat(40),
  title: "drifted from the recorded release aaaaaaa",
  details: ["web: image differs", "extra container <!channel> @everyone"],
  at: "2026-12-01T12:00:00.000Z",
};

const channel = (type: NotificationChannel["type"]): NotificationChannel =>
  ({
    name: `${type}-1`,
    type,
    url: { env: "HOOK_URL" },
    ...(type === "webhook" ? { secret: { env: "HOOK_SECRET" } } : {}),
    events: ["drift"],
    repos: [],
    reminder: 86_400_000,
  }) as NotificationChannel;

describe("what each channel receives", () => {
  it("webhook: the message as JSON, signed with HMAC-SHA256 of the exact body", async () => {
    await deliver(channel("webhook"), message, { env: env(`${base}/hook`) });
    const [r] = received;
    expect(r?.path).toBe("/hook");
    const expected = `sha256=${createHmac("sha256", SECRET)
      .update(r?.body ?? "")
      .digest("hex")}`;
    expect(r?.headers[SIGNATURE_HEADER.toLowerCase()]).toBe(expected);
    expect(r?.headers["x-stackpilot-event"]).toBe("drift");
    expect(r?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(r?.body ?? "")).toEqual({
      ...message,
      summary: "🔴 drifted from the recorded release aaaaaaa — web on app-1 (acme/infra)",
    });
    // A body changed on the way no longer matches the signature.
    const forged = (r?.body ?? "").replace("app-1", "app-2");
    expect(`sha256=${createHmac("sha256", SECRET).update(forged).digest("hex")}`).not.toBe(expected);
  });

  it("Slack: text with <, > and & escaped, so outside text cannot mention a channel or link", async () => {
    await deliver(channel("slack"), message, { env: env(`${base}/slack/T000/B000/XXXX`) });
    const { text } = JSON.parse(received[0]?.body ?? "") as { text: string };
    expect(text).toContain("extra container &lt;!channel&gt; @everyone");
    expect(text).not.toContain("<!channel>");
    expect(
      text.startsWith("🔴 drifted from the recorded release aaaaaaa — web on app-1 (acme/infra)\n```"),
    ).toBe(true);
  });

  it("Discord: mentions turned off, content within its 2,000 characters", async () => {
    const long = boundMessage({
      ...message,
      details: Array.from({ length: 50 }, (_, i) => `${i} ${"x".repeat(600)}`),
    });
    await deliver(channel("discord"), long, { env: env(`${base}/api/webhooks/1/tok`) });
    const body = JSON.parse(received[0]?.body ?? "") as { content: string; allowed_mentions: unknown };
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.content.length).toBeLessThanOrEqual(2000);
    expect(body.content).toMatch(/…\n```$/);
  });

  it("bounds a message: at most 20 detail lines of 500 characters, a body far below 16 KiB", () => {
    const huge = boundMessage({
      ...message,
      title: "t".repeat(5000),
      details: ["y".repeat(100_000), ...Array(100).fill("z")],
    });
    expect(huge.title.length).toBe(300);
    expect(huge.details).toHaveLength(20);
    expect(huge.details[19]).toBe("… 82 more");
    expect(Buffer.byteLength(renderRequest("webhook", huge, SECRET).body)).toBeLessThan(16 * 1024);
  });
});

describe("delivery", () => {
  const log = () => {
    const lines: string[] = [];
    return { lines, info: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  };

  it("retries a receiver's 5xx with backoff until it takes the message", async () => {
    answers.push(
      (res) => res.writeHead(500).end(),
      (res) => res.writeHead(503).end(),
    );
    process.env.HOOK_URL = `${base}/hook`;
    process.env.HOOK_SECRET = SECRET;
    const l = log();
    const dispatch = inProcessDispatch(deliveryWorker([channel("webhook")], l), {
      retries: 3,
      backoffMs: 20,
    });
    await dispatch.send({ channel: "webhook-1", message });
    await dispatch.idle();
    expect(received.map((r) => r.path)).toEqual(["/hook", "/hook", "/hook"]);
    expect(l.lines).toEqual([]);
  });

  it("does not retry what cannot pass (a 4xx), nor follow a redirect, and logs it at once", async () => {
    process.env.HOOK_URL = `${base}/gone`;
    answers.push((res) => res.writeHead(404).end());
    const l = log();
    const dispatch = inProcessDispatch(deliveryWorker([channel("slack")], l), { retries: 3, backoffMs: 20 });
    await dispatch.send({ channel: "slack-1", message });
    await dispatch.idle();
    expect(received.map((r) => r.path)).toEqual(["/gone"]);
    expect(l.lines).toEqual([
      "notification (drift of web on app-1) not delivered: notification channel slack-1: answered HTTP 404",
    ]);

    received.length = 0;
    answers.push((res) => res.writeHead(302, { location: `${base}/elsewhere` }).end());
    await expect(deliver(channel("slack"), message, { env: env(`${base}/moved`) })).rejects.toMatchObject({
      permanent: true,
    });
    expect(received.map((r) => r.path)).toEqual(["/moved"]);
  });

  it("gives a receiver that never answers a bounded time", async () => {
    answers.push(() => {}); // never answers
    const t0 = performance.now();
    const err = await deliver(channel("discord"), message, {
      env: env(`${base}/slow`),
      timeoutMs: 300,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).message).toBe("notification channel discord-1: no answer in time");
    expect((err as DeliveryError).permanent).toBe(false);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it("never repeats a webhook URL, its path or its query in errors and logs", async () => {
    const secretPath = "/services/T000/B000/TOPSECRETTOKEN";
    // A port nothing listens on any more: the connection is refused.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, "127.0.0.1", r));
    const closed = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
    await new Promise<void>((r) => gone.close(() => r()));
    const l = log();
    process.env.HOOK_URL = `${closed}${secretPath}?token=QUERYSECRET`;
    const dispatch = inProcessDispatch(deliveryWorker([channel("slack")], l), { retries: 0, backoffMs: 1 });
    await dispatch.send({ channel: "slack-1", message });
    await dispatch.idle();
    expect(l.lines).toHaveLength(1);
    expect(l.lines[0]).toMatch(
      /^notification \(drift of web on app-1\) not delivered after 1 attempts: notification channel slack-1: connect ECONNREFUSED/,
    );
    expect(l.lines[0]).not.toContain("TOPSECRETTOKEN");
    expect(l.lines[0]).not.toContain("QUERYSECRET");

    const redact = urlRedactor(`https://hooks.slack.com${secretPath}?token=QUERYSECRET`);
    expect(redact(`POST https://hooks.slack.com${secretPath}?token=QUERYSECRET failed`)).toBe(
      "POST *** failed",
    );
    expect(redact(`path ${secretPath} and ?token=QUERYSECRET`)).toBe("path *** and ***");
  });

  it("refuses a secret that does not hold an http(s) URL, without saying what it holds", async () => {
    const err = await deliver(channel("slack"), message, { env: env("javascript:alert(1)") }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({
      permanent: true,
      message: "notification channel slack-1: its url is not an http(s) URL",
    });
  });
});
