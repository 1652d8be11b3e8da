/** Runs a command as its own process and reports its wall time and peak RSS (GNU time's %M). */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export interface Measured {
  ms: number;
  peakKb: number;
  code: number | null;
  stderr: string;
}

export async function measure(
  argv: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), "sp-measure-"));
  const out = join(dir, "time");
  try {
    const t = performance.now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn("/usr/bin/time", ["-o", out, "-f", "%M", ...argv], {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c, stderr: err }));
    });
    const ms = performance.now() - t;
    // GNU time writes "Command exited with non-zero status N" first when it did.
    const peakKb = Number(readFileSync(out, "utf8").trim().split("\n").at(-1));
    return { ms, peakKb, code, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
