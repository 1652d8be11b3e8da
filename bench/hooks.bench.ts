/**
 * Hook overhead, on a real test host (test/e2e/harness: sshd + dockerd; needs root and
 * `bash test/e2e/harness/install.sh`). Requirement (reported, not asserted): a `true` hook adds at
 * most one round trip per target.
 *
 * Over one SSH connection, alternating, BENCH_RUNS times (default 30): a bare `true` command (one
 * round trip, the floor), and a `true` hook as the deployer runs it (HookRunner: the wrapper with
 * its environment, own process group and timeout watchdog, the verdict read back). Reported: the
 * commands each hook sent (must be 1) and the time of each, median and spread.
 *
 *   node_modules/.bin/node bench/hooks.bench.ts      (~10 s; as root)
 */
import { performance } from "node:perf_hooks";
import { HostSchema } from "../src/config/hostsFile.ts";
import { HookRunner } from "../src/deploy/hookSteps.ts";
import { Runner } from "../src/deploy/runner.ts";
import { SshPool } from "../src/deploy/ssh/pool.ts";
import { type Harness, hostEntry, startHarness, type TestHost } from "../test/e2e/harness/harness.ts";
import { fmtMs, fmtSample, median, table } from "./deployLib/stats.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 30);

let harness: Harness | undefined;
let pool: SshPool | undefined;
try {
  harness = await startHarness({ hosts: 1 });
  const host = harness.hosts[0] as TestHost;
  pool = new SshPool([HostSchema.parse(hostEntry(host))], { readyTimeoutMs: 10_000 });
  let commands = 0;
  const runner = new Runner(pool, { onRecord: () => commands++ });
  const step = (argv: Parameters<Runner["run"]>[1], opts?: Parameters<Runner["run"]>[2]) =>
    runner.run(host.name, argv, opts);
  const hooks = new HookRunner(
    { post_deploy: { run: ["true"], timeoutS: 30, retries: 0, backoffS: 0, required: true } },
    {
      stack: "bench",
      host: host.name,
      commit: "c".repeat(40),
      actor: "bench",
      trigger: "bench",
      releaseDir: host.deployRoot,
      stackPath: ".",
      projectName: "bench",
    },
    step,
  );
  // Warm: the connection opened, the shell and binaries in the page cache.
  for (let i = 0; i < 3; i++) {
    await step(["true"]);
    await hooks.run("post_deploy");
  }
  const bare: number[] = [];
  const hook: number[] = [];
  const perHook: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    await step(["true"]);
    bare.push(performance.now() - t);
    const before = commands;
    t = performance.now();
    await hooks.run("post_deploy");
    hook.push(performance.now() - t);
    perHook.push(commands - before);
  }
  const failed = hooks.runs.filter((r) => r.status !== "succeeded").length;
  const sent = Math.max(...perHook);
  console.log(
    table(
      ["metric", "value", "target", "met?"],
      [
        ["commands sent per `true` hook", String(sent), "1", sent === 1 ? "yes" : "NO"],
        ["bare `true` round trip (median)", fmtMs(median(bare)), "", ""],
        ["`true` hook (median)", fmtMs(median(hook)), "", ""],
        ["hook - bare (median)", fmtMs(median(hook) - median(bare)), "", ""],
        ["hook attempts that failed", String(failed), "0", failed === 0 ? "yes" : "NO"],
      ],
    ),
  );
  console.log(`\nbare: ${fmtSample(bare)}\nhook: ${fmtSample(hook)}\n(${RUNS} runs each, alternating)`);
} finally {
  await pool?.close();
  await harness?.stop();
}
