/**
 * `node src/github/server.ts` (what `npm start` runs) with a clean environment: GitHub is a
 * loopback port nothing listens on, the data dir a new one under `home`.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { testAppPrivateKey } from "./webhooks.ts";

export function spawnServer(home: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ["src/github/server.ts"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      APP_ID: "1",
      PRIVATE_KEY: testAppPrivateKey,
      GHE_HOST: "127.0.0.1:9",
      GHE_PROTOCOL: "http",
      HOST: "127.0.0.1",
      PORT: "0",
      STACKPILOT_DATA_DIR: join(home, `data-${Math.random().toString(36).slice(2)}`),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const collect = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/**
 * Polls `probe` until it gives a value. A probe that throws counts as "not yet": a connection
 * reset while the App starts is one (opening PGlite holds its event loop, and on a loaded machine
 * a kept-alive socket can time out before the request is read).
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string | (() => string),
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
