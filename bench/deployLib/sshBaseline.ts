/**
 * The baseline: the system `ssh` client running `cd DIR && docker-compose -p P up -d` on a host,
 * a fresh connection each time, strict host key checking against a known_hosts built from the
 * harness's host key lines.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { TestHost } from "../../test/e2e/harness/harness.ts";
import { sshArgs } from "../../test/e2e/harness/harness.ts";

export function writeKnownHosts(path: string, hosts: readonly TestHost[]): string {
  writeFileSync(path, hosts.map((h) => `${h.address} ${h.hostKeyLine}\n`).join(""));
  return path;
}

export interface SshTiming {
  host: string;
  ms: number;
  code: number;
  stderr: string;
}

export function sshRun(host: TestHost, knownHosts: string, command: string): Promise<SshTiming> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("ssh", [...sshArgs(host, knownHosts), command], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ host: host.name, ms: performance.now() - t0, code: code ?? -1, stderr }),
    );
  });
}

/** The command of the baseline: an env var change that recreates the container. */
export const baselineCommand = (dir: string, project: string, round: string) =>
  `cd ${dir} && BENCH_ROUND=${round} docker-compose -p ${project} up -d`;

export function check(t: SshTiming, what: string): SshTiming {
  if (t.code !== 0) throw new Error(`${what} on ${t.host} failed (exit ${t.code}): ${t.stderr.trim()}`);
  return t;
}
