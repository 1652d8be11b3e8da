/**
 * The App as its own process (`node src/github/server.ts`, what `npm start` runs), for tests that
 * kill it (SIGKILL) or run two replicas: GitHub is the simulated one on the git server's origin
 * (fakeGitHub.ts), reached as GitHub Enterprise through GHE_HOST.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { deliverWebhook, testAppPrivateKey } from "./webhooks.ts";

export interface AppProcess {
  readonly port: number;
  /** Everything it printed (stdout and stderr). */
  output(): string;
  /** A signed delivery; the HTTP status. */
  deliver(event: string, payload: unknown, delivery: string): Promise<number>;
  /** SIGKILL, as a crash or an OOM kill would: nothing runs after it. */
  kill(): Promise<void>;
  /** SIGTERM: a graceful stop. */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export const APP_SECRET = "fault-test-secret";

export async function startAppProcess(env: Record<string, string>, timeoutMs = 120_000): Promise<AppProcess> {
  const child: ChildProcess = spawn(process.execPath, ["src/github/server.ts"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      APP_ID: "1",
      PRIVATE_KEY: testAppPrivateKey,
      WEBHOOK_SECRET: APP_SECRET,
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
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  let port = 0;
  while (!port) {
    const m = /Stackpilot listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) port = Number(m[1]);
    else if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the App did not start:\n${out.slice(-4000)}`);
    } else await new Promise((r) => setTimeout(r, 100));
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    port,
    output: () => out,
    deliver: (event, payload, delivery) => deliverWebhook(port, APP_SECRET, { event, payload, id: delivery }),
    kill: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
    exited,
  };
}
