// /healthz and /readyz over real HTTP. In process, on both backends: ready once createServices
// returned, not ready from the moment a shutdown starts while /healthz still answers. As `npm
// start` runs it: listening before the database answers, /readyz saying what it waits for (never
// the database password), other requests told to come back; secrets read from files.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/github/server.ts";
import { type ServedApp, serveApp } from "../helpers/appServer.ts";
import { spawnServer, waitFor } from "../helpers/serverProcess.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { examplePayload, sign, testAppPrivateKey } from "../helpers/webhooks.ts";

const SECRET = "health-test-secret";
const tmp = mkdtempSync(join(tmpdir(), "sp-health-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const backends = useStateBackends();

async function get(port: number, path: string, method = "GET") {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, string>) : {}, res };
}

describe.each(backends)("health and readiness on $name", (backend) => {
  let app: ServedApp;
  let services: Services;
  let server: { port: number };

  beforeAll(async () => {
    app = await serveApp(backend, { WEBHOOK_SECRET: SECRET });
    services = app.services;
    server = app;
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  });

  it("answers /healthz and /readyz with 200 once the database, the queue and the hosts file are loaded", async () => {
    expect(await get(server.port, "/healthz")).toMatchObject({ status: 200, body: { status: "ok" } });
    const ready = await get(server.port, "/readyz");
    expect(ready).toMatchObject({ status: 200, body: { status: "ready" } });
    expect(ready.res.headers.get("cache-control")).toBe("no-store");
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`, { method: "HEAD" })).status).toBe(200);
  });

  it("does not serve health on other methods", async () => {
    expect((await get(server.port, "/healthz", "POST")).status).toBe(404);
  });

  it("says not ready from the moment a shutdown starts, while /healthz still answers", async () => {
    const stopping = services.stop();
    const readyz = await get(server.port, "/readyz");
    expect(readyz).toMatchObject({ status: 503, body: { status: "not ready", reason: "shutting down" } });
    expect((await get(server.port, "/healthz")).status).toBe(200);
    await stopping;
    expect((await get(server.port, "/healthz")).status).toBe(200);
  }, 60_000);
});

const startApp = (env: Record<string, string>) =>
  spawnServer(tmp, { STACKPILOT_APP_SLUG: "stackpilot", ...env });

/** A loopback port that refuses connections (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("npm start", () => {
  it("answers /healthz while the database does not, /readyz 503 naming what it waits for without the password, and 503 to webhooks", async () => {
    const port = await closedPort();
    const app = startApp({
      WEBHOOK_SECRET: SECRET,
      DATABASE_URL: `postgres://stackpilot:pw-never-shown@127.0.0.1:${port}/stackpilot`,
    });
    try {
      const appPort = await waitFor(
        () => /Stackpilot starting on http:\/\/127\.0\.0\.1:(\d+)/.exec(app.output())?.[1],
        90_000,
        () => `the starting line; output so far:\n${app.output()}`,
      );
      expect((await get(Number(appPort), "/healthz")).status).toBe(200);
      // Once the first attempt failed, the reason says why.
      const readyz = await waitFor(
        async () => {
          const r = await get(Number(appPort), "/readyz");
          return r.body.reason?.includes("(") ? r : undefined;
        },
        60_000,
        () => `a reason with the database's problem; output:\n${app.output()}`,
      );
      expect(readyz.status).toBe(503);
      expect(readyz.body.reason).toMatch(/^starting: waiting for database, queue \(.*ECONNREFUSED/);
      expect(JSON.stringify(readyz.body)).not.toContain("pw-never-shown");
      const hook = await fetch(`http://127.0.0.1:${appPort}/api/github/webhooks`, {
        method: "POST",
        body: "{}",
      });
      expect(hook.status).toBe(503);
      expect(hook.headers.get("retry-after")).toBe("5");
      expect(app.output()).toContain("waiting for the database");
      expect(app.output()).not.toContain("pw-never-shown");
    } finally {
      app.child.kill("SIGTERM");
    }
    expect(await app.exited).toBe(0);
  }, 150_000);

  it("on PGlite gets ready, takes a webhook signed with the secret from WEBHOOK_SECRET_FILE, and never prints it", async () => {
    const secretFile = join(tmp, "webhook-secret");
    writeFileSync(secretFile, "file-secret-4711\n");
    const keyFile = join(tmp, "app-key.pem");
    writeFileSync(keyFile, testAppPrivateKey);
    const app = startApp({ WEBHOOK_SECRET_FILE: secretFile, PRIVATE_KEY: "", PRIVATE_KEY_FILE: keyFile });
    try {
      const appPort = Number(
        await waitFor(
          () => /Stackpilot starting on http:\/\/127\.0\.0\.1:(\d+)/.exec(app.output())?.[1],
          90_000,
          () => `the starting line; output so far:\n${app.output()}`,
        ),
      );
      await waitFor(
        async () => ((await get(appPort, "/readyz")).status === 200 ? true : undefined),
        120_000,
        () => `/readyz 200; output:\n${app.output()}`,
      );
      const deliver = (secret: string, id: string) => {
        const body = JSON.stringify(examplePayload("ping"));
        return fetch(`http://127.0.0.1:${appPort}/api/github/webhooks`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "ping",
            "x-github-delivery": id,
            "x-hub-signature-256": sign(body, secret),
          },
          body,
        });
      };
      expect((await deliver("file-secret-4711", "d-1")).status).toBe(200);
      expect((await deliver("file-secret-4711\n", "d-2")).status).toBe(401);
      expect(app.output()).not.toContain("file-secret-4711");
    } finally {
      app.child.kill("SIGTERM");
    }
    expect(await app.exited).toBe(0);
  }, 200_000);
});
