// The webhook endpoint over real HTTP: signatures checked, deliveries recorded once, jobs queued
// durably (pg-boss on PGlite). GitHub itself is never contacted.
import nock from "nock";
import { Probot } from "probot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { examplePayload, sign, testAppPrivateKey } from "../helpers/webhooks.ts";

const SECRET = "test-secret";
const privateKey = testAppPrivateKey;

// The app's state and queue on both backends: embedded PGlite and a real PostgreSQL server.
const backends = useStateBackends();

describe.each(backends)("the webhook endpoint on $name", (backend) => {
  let services: Services;
  let server: Awaited<ReturnType<typeof startServer>>;
  let url: string;

  beforeAll(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect("127.0.0.1");
    const location = await backend.newDatabase();
    services = await createServices(
      parseEnv({
        STACKPILOT_DATA_DIR: location.dataDir,
        ...(location.databaseUrl ? { DATABASE_URL: location.databaseUrl } : {}),
        WEBHOOK_SECRET: SECRET,
      }),
      { worker: false },
    );
    server = await startServer(services, {
      probot: new Probot({ appId: 1, privateKey, secret: SECRET }),
      secret: SECRET,
    });
    url = `http://127.0.0.1:${server.port}/api/github/webhooks`;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await services?.stop();
    nock.enableNetConnect();
  });

  async function deliver(id: string, event: string, payload: unknown, signature?: string) {
    const body = JSON.stringify(payload);
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": id,
        "x-hub-signature-256": signature ?? sign(body, SECRET),
      },
      body,
    });
    return res.status;
  }

  describe("the webhook endpoint", () => {
    it("answers a signed delivery at once and queues its job", async () => {
      const payload = examplePayload("pull_request", "opened");
      expect(await deliver("delivery-1", "pull_request", payload)).toBeLessThan(300);
      expect(await services.jobs.deliveries()).toEqual(["delivery-1"]);
    });

    it("rejects a bad or missing signature with 4xx and stores nothing", async () => {
      const payload = examplePayload("pull_request", "opened");
      expect(await deliver("delivery-bad", "pull_request", payload, sign("something else", SECRET))).toBe(
        401,
      );
      expect(
        await deliver("delivery-wrong-key", "pull_request", payload, sign(JSON.stringify(payload), "other")),
      ).toBe(401);
      expect(await deliver("delivery-none", "pull_request", payload, "")).toBe(401);
      expect(await services.store.recordDelivery("delivery-bad", "probe")).toBe(true); // was not recorded before
      expect(await services.jobs.deliveries()).toEqual(["delivery-1"]);
    });

    it("queues a redelivered event once, and a signed body replayed under a new delivery id never", async () => {
      const payload = { ...examplePayload("pull_request", "opened"), number: 9002 };
      expect(await deliver("delivery-2", "pull_request", payload)).toBeLessThan(300);
      expect(await deliver("delivery-2", "pull_request", payload)).toBeLessThan(300);
      expect(await deliver("delivery-2-replayed", "pull_request", payload)).toBeLessThan(300);
      const queued = await services.jobs.deliveries();
      expect(queued.filter((d) => d.startsWith("delivery-2"))).toEqual(["delivery-2"]);
    });

    it("keys the replay check on the HMAC of the raw bytes it verified, not on a re-serialised payload", async () => {
      const payload = { ...examplePayload("pull_request", "opened"), number: 9003 };
      expect(await deliver("delivery-hmac", "pull_request", payload)).toBeLessThan(300);
      const hmac = sign(JSON.stringify(payload), SECRET).replace("sha256=", "");
      const rows = await services.store.db.query<{ delivery_id: string }>(
        "SELECT delivery_id FROM webhook_deliveries WHERE delivery_id = $1",
        [`body:${hmac}`],
      );
      expect(rows).toHaveLength(1);
    });

    it("forgets deliveries older than the retention when it starts (GitHub redelivers for 3 days)", async () => {
      const location = await backend.newDatabase();
      const env = parseEnv({
        STACKPILOT_DATA_DIR: location.dataDir,
        ...(location.databaseUrl ? { DATABASE_URL: location.databaseUrl } : {}),
        WEBHOOK_SECRET: SECRET,
      });
      let other = await createServices(env, { worker: false });
      expect(await other.store.recordDelivery("old-delivery", "push")).toBe(true);
      expect(await other.store.recordDelivery("recent-delivery", "push")).toBe(true);
      await other.store.db.query(
        "UPDATE webhook_deliveries SET received_at = now() - interval '8 days' WHERE delivery_id = 'old-delivery'",
      );
      await other.stop();
      other = await createServices(env, { worker: false });
      try {
        expect(await other.store.recordDelivery("old-delivery", "push")).toBe(true);
        expect(await other.store.recordDelivery("recent-delivery", "push")).toBe(false);
      } finally {
        await other.stop();
      }
    }, 240_000);

    it("survives malformed payloads and hostile comment bodies without queueing junk", async () => {
      expect(await deliver("delivery-3", "pull_request", { action: "opened", number: "x" })).toBeLessThan(
        500,
      );
      const comment = examplePayload("issue_comment", "created") as { comment: { body: string } };
      comment.comment.body = `/deploy $(reboot) \`id\` ; rm -rf / ✓ ${"x".repeat(60_000)}`;
      expect(await deliver("delivery-4", "issue_comment", comment)).toBeLessThan(300);
      const queued = await services.jobs.deliveries();
      expect(queued).not.toContain("delivery-3");
    });
  });
});
