// `npm start` as a process: it refuses to start without a webhook secret, says where it listens at
// the default log level, and starts (and answers) while GitHub cannot be reached.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { testAppPrivateKey } from "../helpers/webhooks.ts";

const tmp = mkdtempSync(join(tmpdir(), "sp-start-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The server process with a clean environment: GitHub is a loopback port nothing listens on. */
function startApp(env: Record<string, string>) {
  const child = spawn(process.execPath, ["src/github/server.ts"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: tmp,
      APP_ID: "1",
      PRIVATE_KEY: testAppPrivateKey,
      GHE_HOST: "127.0.0.1:9",
      GHE_PROTOCOL: "http",
      HOST: "127.0.0.1",
      PORT: "0",
      STACKPILOT_DATA_DIR: join(tmp, `data-${Math.random().toString(36).slice(2)}`),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("npm start", () => {
  it("refuses to start without WEBHOOK_SECRET, naming the variable and the explicit development setting", async () => {
    const app = startApp({});
    expect(await app.exited).toBe(1);
    expect(app.output()).toContain("WEBHOOK_SECRET is required");
    expect(app.output()).toContain("STACKPILOT_INSECURE_DEVELOPMENT=1");
  }, 60_000);

  it("with GitHub unreachable it starts, logs where it listens at the default level, answers /ping, and stops on SIGTERM", async () => {
    const app = startApp({ WEBHOOK_SECRET: "s3cret" });
    try {
      const port = await waitFor(
        () => /Stackpilot listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(app.output())?.[1],
        90_000,
        `the listening line; output so far:\n${app.output()}`,
      );
      const res = await fetch(`http://127.0.0.1:${port}/ping`);
      expect(await res.text()).toBe("PONG");
      expect(app.output()).not.toContain("s3cret");
    } finally {
      app.child.kill("SIGTERM");
    }
    expect(await app.exited).toBe(0);
  }, 120_000);
});
