// POST /triggers/NAME and GET /api/runs/ID on the App's real HTTP server (createWebhookServer with
// the routes), a real state store (PGlite), and a queue that records what it is handed.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Probot } from "probot";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TriggerConfig } from "../../src/config/triggers.ts";
import { runsApiRoute } from "../../src/github/http/runsApi.ts";
import { triggerCounters, triggerRoute } from "../../src/github/http/triggers.ts";
import { ByteBudget } from "../../src/github/http/webhookRequest.ts";
import { createWebhookServer } from "../../src/github/http/webhookServer.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { sign, testAppPrivateKey } from "../helpers/webhooks.ts";

const [pglite] = useStateBackends();
const SECRET = "s3cret-of-the-fleet-trigger";
const OTHER = "secret-of-another-trigger";
const API_TOKEN = "server-side-api-token-0123456789";
const BEFORE = "a".repeat(40);
const AFTER = "b".repeat(40);

const triggers: TriggerConfig[] = [
  {
    name: "fleet",
    repository: "acme/infra",
    branch: "main",
    procedure: "rollout",
    secret: { env: "FLEET_SECRET" },
    stacks: ["db-*"],
  },
  { name: "other", repository: "acme/other", secret: { env: "OTHER_SECRET" } },
];
const secrets: Record<string, string> = { FLEET_SECRET: SECRET, OTHER_SECRET: OTHER };

let store: Store;
let base: string;
let close: () => Promise<void>;
const sent: number[] = [];
/** What the fake worker does with a run it is handed (the `?wait=true` test ends it). */
let onSend: (id: number) => void = () => {};

beforeAll(async () => {
  store = await (pglite as NonNullable<typeof pglite>).sharedStore();
  const readSecret = async (ref: { env: string } | { file: string }) =>
    ("env" in ref ? secrets[ref.env] : undefined) ?? "";
  const routes = [
    triggerRoute({
      triggers,
      store,
      queue: {
        send: async (id) => {
          sent.push(id);
          onSend(id);
        },
      },
      readSecret,
      limits: { maxBodyBytes: 64 * 1024, waitMs: 5_000 },
    }),
    runsApiRoute({ store, triggers, apiToken: API_TOKEN, readSecret }),
  ];
  const probot = new Probot({ appId: 1, privateKey: testAppPrivateKey, secret: "webhook-secret" });
  const server = await createWebhookServer({ appFn: () => {}, probot, secret: "webhook-secret", routes });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((r) => server.close(() => r()));
}, 120_000);

afterAll(async () => {
  await close?.();
});

beforeEach(() => {
  sent.length = 0;
  onSend = () => {};
});

const push = (ref = "refs/heads/main", repo = "acme/infra") =>
  JSON.stringify({ ref, before: BEFORE, after: AFTER, repository: { full_name: repo }, commits: [] });

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const runsOf = async (repo: string) => store.procedures.listRuns({ repo, limit: 100 });

describe("POST /triggers/NAME", () => {
  it("answers 404 for an unknown trigger, reading nothing and storing only a counter", async () => {
    const before = await runsOf("acme/infra");
    const counted = triggerCounters.get("(unknown)\u0000404") ?? 0;
    const r = await post("/triggers/nope", push(), { "x-hub-signature-256": sign(push(), SECRET) });
    expect(r).toEqual({ status: 404, body: { error: "no such trigger" } });
    expect(await runsOf("acme/infra")).toEqual(before);
    expect(triggerCounters.get("(unknown)\u0000404")).toBe(counted + 1);
    expect(sent).toEqual([]);
  });

  it("answers 401 without a signature or token, with a bad signature, another trigger's secret or a wrong token", async () => {
    const before = await runsOf("acme/infra");
    const body = push();
    expect((await post("/triggers/fleet", body)).status).toBe(401);
    expect((await post("/triggers/fleet", body, { "x-hub-signature-256": "sha256=nothex" })).status).toBe(
      401,
    );
    expect((await post("/triggers/fleet", body, { "x-hub-signature-256": sign(body, OTHER) })).status).toBe(
      401,
    );
    expect(
      (await post("/triggers/fleet", body, { "x-hub-signature-256": sign(`${body} `, SECRET) })).status,
    ).toBe(401);
    expect((await post("/triggers/fleet", body, { authorization: `Bearer ${OTHER}` })).body).toEqual({
      error: "the bearer token does not match",
    });
    expect(await runsOf("acme/infra")).toEqual(before);
    expect(sent).toEqual([]);
  });

  it("queues a run for a signed push of its branch, with the pushed range and the trigger's filters", async () => {
    const body = push();
    const r = await post("/triggers/fleet", body, {
      "x-hub-signature-256": sign(body, SECRET),
      "x-github-delivery": "d-1",
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: "queued", url: `${base}/api/runs/${r.body.id}` });
    expect(sent).toEqual([r.body.id]);
    const run = await store.procedures.getRun(Number(r.body.id));
    expect(run).toMatchObject({
      repo: "acme/infra",
      branch: "main",
      procedure: "rollout",
      source: "trigger",
      triggerName: "fleet",
      base: BEFORE,
      head: AFTER,
      filters: { stacks: ["db-*"] },
      status: "queued",
    });
  });

  it("answers a redelivery (same delivery id, or the same body) with the first run and queues nothing", async () => {
    const body = push().replace(AFTER, "c".repeat(40));
    const headers = { "x-hub-signature-256": sign(body, SECRET), "x-github-delivery": "d-2" };
    const first = await post("/triggers/fleet", body, headers);
    const again = await post("/triggers/fleet", body, headers);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });
    const bare = JSON.stringify({ note: "no delivery id" });
    const a = await post("/triggers/fleet", bare, { authorization: `Bearer ${SECRET}` });
    const b = await post("/triggers/fleet", bare, { authorization: `Bearer ${SECRET}` });
    expect(b.body).toMatchObject({ id: a.body.id, duplicate: true });
    expect(sent).toEqual([first.body.id, a.body.id]);
  });

  it("ignores a push of another branch or repository with 202 and a reason, storing nothing", async () => {
    const before = await runsOf("acme/infra");
    const other = push("refs/heads/feature");
    const r = await post("/triggers/fleet", other, { "x-hub-signature-256": sign(other, SECRET) });
    expect(r).toEqual({
      status: 202,
      body: { ignored: "branch feature is not among the trigger's branches (main)" },
    });
    const fork = push("refs/heads/main", "mallory/infra");
    expect(
      (await post("/triggers/fleet", fork, { "x-hub-signature-256": sign(fork, SECRET) })).body.ignored,
    ).toMatch(/^repository mallory\/infra is not among/);
    expect(await runsOf("acme/infra")).toEqual(before);
    expect(sent).toEqual([]);
  });

  it("refuses a body over the limit, declared or streamed, with 413 and stores nothing", async () => {
    const before = await runsOf("acme/infra");
    const huge = JSON.stringify({ pad: "x".repeat(100 * 1024) });
    expect((await post("/triggers/fleet", huge, { "x-hub-signature-256": sign(huge, SECRET) })).status).toBe(
      413,
    );
    const res = await fetch(`${base}/triggers/fleet`, {
      method: "POST",
      headers: { "x-hub-signature-256": sign(huge, SECRET) },
      body: new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(huge));
          c.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await runsOf("acme/infra")).toEqual(before);
  });

  it("runs a trigger called without a payload at its branch's current head", async () => {
    const r = await post("/triggers/other", "", {
      authorization: `Bearer ${OTHER}`,
      "x-github-delivery": "d-3",
    });
    expect(r.status).toBe(202);
    expect(await store.procedures.getRun(Number(r.body.id))).toMatchObject({
      repo: "acme/other",
      branch: null,
      procedure: null,
      head: null,
      base: null,
    });
  });

  it("with ?wait=true answers when the run ends, with its result", async () => {
    onSend = (id) => {
      setTimeout(() => void store.procedures.finishRun(id, { status: "succeeded" }), 300);
    };
    const r = await post("/triggers/fleet?wait=true", "{}", {
      authorization: `Bearer ${SECRET}`,
      "x-github-delivery": "d-4",
    });
    expect(r.status).toBe(200);
    expect(r.body.result).toMatchObject({ id: r.body.id, status: "succeeded", procedure: "rollout" });
  });

  it("queues a body that looks like a refusal: the sender never chooses the answer", async () => {
    const body = JSON.stringify({ status: 500, error: "chosen by the sender" });
    const r = await post("/triggers/fleet", body, {
      authorization: `Bearer ${SECRET}`,
      "x-github-delivery": "d-5",
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: "queued" });
    expect(sent).toEqual([r.body.id]);
  });

  it("gives an authenticated body's bytes back to the budget before a ?wait=true wait", async () => {
    // A route of its own whose budget holds one body: while the first request waits for its run,
    // a second one's body still fits.
    const pad = JSON.stringify({ pad: "x".repeat(600) });
    const ended: number[] = [];
    const route = triggerRoute({
      triggers,
      store,
      queue: { send: async (id) => void ended.push(id) },
      readSecret: async () => SECRET,
      limits: { budget: new ByteBudget(1_000), waitMs: 5_000 },
    });
    const server = createServer(
      (req, res) => void route.handle(req, res, (req.url ?? "").split("?")[0] ?? ""),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/triggers/fleet`;
    const send = (query: string, delivery: string) =>
      fetch(`${url}${query}`, {
        method: "POST",
        body: pad,
        headers: { authorization: `Bearer ${SECRET}`, "x-github-delivery": delivery },
      });
    const waiting = send("?wait=true", "d-6");
    try {
      while (ended.length === 0) await new Promise((r) => setTimeout(r, 10));
      const second = await send("", "d-7");
      expect(second.status).toBe(202);
      await store.procedures.finishRun(ended[0] as number, { status: "succeeded" });
      expect((await waiting).status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await waiting.catch(() => undefined); // cut off by the close when an expectation failed
    }
  });
});

describe("GET /api/runs/ID", () => {
  it("shows a run to its trigger's secret and the API token, and nothing to anyone else", async () => {
    const made = await post("/triggers/fleet", "{}", {
      authorization: `Bearer ${SECRET}`,
      "x-github-delivery": "d-5",
    });
    const get = async (token?: string, id = made.body.id) => {
      const res = await fetch(
        `${base}/api/runs/${id}`,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect((await get()).status).toBe(401);
    expect((await get(OTHER)).status).toBe(401);
    expect((await get(SECRET)).body).toMatchObject({ id: made.body.id, status: "queued", trigger: "fleet" });
    expect((await get(API_TOKEN)).status).toBe(200);
    expect((await get(SECRET, 999_999)).status).toBe(401);
    expect((await get(API_TOKEN, 999_999)).status).toBe(404);
  });
});
