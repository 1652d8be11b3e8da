/** A RemoteExec that runs each command line through a local `sh -c`, as sshd would on a host. */
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { RemoteExec, RemoteResult } from "../../src/deploy/runner.ts";

/** `env()` is read per command (tests put fake tools first on PATH once they made them). */
export function localExec(env: () => NodeJS.ProcessEnv = () => process.env): RemoteExec {
  return {
    exec(_host, line, opts = {}) {
      return new Promise<RemoteResult>((resolve, reject) => {
        const t0 = performance.now();
        const child = spawn("sh", ["-c", line], { env: env(), stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => {
          stdout += c;
        });
        child.stderr.on("data", (c: Buffer) => {
          stderr += c;
        });
        child.stdin.on("error", () => {});
        child.on("error", reject);
        child.on("close", (code) =>
          resolve({ code, stdout, stderr, durationMs: Math.round(performance.now() - t0) }),
        );
        const stdin = opts.stdin;
        if (stdin === undefined || typeof stdin === "string" || Buffer.isBuffer(stdin))
          child.stdin.end(stdin ?? "");
        else (stdin as Readable).pipe(child.stdin);
      });
    },
  };
}
