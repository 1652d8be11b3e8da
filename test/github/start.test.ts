// `npm start` as a process: it refuses to start without a webhook secret, says where it listens at
// the default log level, and starts (and answers) while GitHub cannot be reached.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnServer, waitFor } from "../helpers/serverProcess.ts";

const tmp = mkdtempSync(join(tmpdir(), "sp-start-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const startApp = (env: Record<string, string>) => spawnServer(tmp, env);

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
