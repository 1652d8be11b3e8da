/**
 * The App as `npm start` runs it (`node <root>/dist/github/server.js`), GitHub unreachable: how long
 * from spawn to ready (`/readyz` 200; code without /readyz: its "listening" line, printed once
 * everything was open), and its memory once idle.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export const APP_SECRET = "bench-footprint-secret";
const privateKey = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

export interface RunningApp {
  child: ChildProcess;
  port: number;
  /** Spawn to `/readyz` 200 (or the listening line). */
  readyMs: number;
  /** Spawn to the first answer of `/healthz` (undefined for code without it). */
  healthMs: number | undefined;
  output(): string;
  /** VmRSS and VmHWM (peak) of the process now, in KB. */
  memory(): { rssKb: number; peakKb: number };
  stop(): Promise<void>;
}

export async function startApp(
  root: string,
  env: Record<string, string>,
  timeoutMs = 180_000,
): Promise<RunningApp> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(root, "dist", "github", "server.js")], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      APP_ID: "1",
      PRIVATE_KEY: privateKey,
      WEBHOOK_SECRET: APP_SECRET,
      GHE_HOST: "127.0.0.1:9",
      GHE_PROTOCOL: "http",
      HOST: "127.0.0.1",
      PORT: "0",
      STACKPILOT_APP_SLUG: "stackpilot",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  let port = 0;
  let healthMs: number | undefined;
  let readyMs: number | undefined;
  let hasReadyz = true;
  while (readyMs === undefined) {
    if (child.exitCode !== null || performance.now() - t0 > timeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`the App did not get ready:\n${out.slice(-3000)}`);
    }
    port ||= Number(/Stackpilot (?:starting|listening) on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 0);
    if (port && hasReadyz) {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      if (res) {
        healthMs ??= performance.now() - t0;
        await res.text();
        if (res.status === 404) hasReadyz = false;
        else if (res.status === 200) readyMs = performance.now() - t0;
      }
    }
    if (!hasReadyz && /Stackpilot listening on/.test(out)) {
      readyMs = performance.now() - t0;
      healthMs = undefined;
    }
    if (readyMs === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  return {
    child,
    port,
    readyMs,
    healthMs,
    output: () => out,
    memory() {
      const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
      const kb = (field: string) =>
        Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
      return { rssKb: kb("VmRSS"), peakKb: kb("VmHWM") };
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
