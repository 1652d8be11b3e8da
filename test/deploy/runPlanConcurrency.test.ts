import { describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import type { DeployResult, HostDeployer } from "../../src/deploy/hostDeploy.ts";
import { DEFAULT_CONCURRENCY, type DeployLedger, runPlan } from "../../src/deploy/orchestrate.ts";
import type { RemoteExec } from "../../src/deploy/runner.ts";
import type { Snapshot } from "../../src/detect/snapshot.ts";
import type { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";

/** One stack to `hosts` hosts, with deployers that count how many run at once. */
async function fanOut(
  hosts: number,
  concurrency?: { total?: number; perHost?: number },
  /** What the ledger's startDeployment answers (false: the record was ended before it started). */
  startable = true,
) {
  const names = Array.from({ length: hosts }, (_, i) => `h${i + 1}`);
  let running = 0;
  let peak = 0;
  let deploys = 0;
  const deployer = {
    async deploy(): Promise<DeployResult> {
      deploys++;
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return { status: "succeeded", release: "c".repeat(40), uploadBytes: 1, timings: {} };
    },
  } as unknown as HostDeployer;
  let id = 0;
  const ledger: DeployLedger = {
    createDeployment: async () => ++id,
    startDeployment: async () => startable,
    finishDeployment: async () => true,
    appendCommandLog: async () => ({ stored: true }) as never,
    setDeployed: async () => {},
    withLock: async (_key, _holder, _ttl, fn) => fn(new AbortController().signal),
  };
  const remote: RemoteExec = {
    exec: async () => {
      throw new Error("no remote command expected");
    },
  };
  const plan = {
    stacks: [{ name: "web", targets: names.map((host) => ({ host, action: "deploy", reasons: [] })) }],
  } as unknown as Plan;
  const head = {
    commit: "c".repeat(40),
    stacks: new Map([["web", { fingerprint: "f" }]]),
  } as unknown as Snapshot;
  const results = await runPlan({
    repo: { dir: "/nonexistent" } as GitRepo,
    repoId: "o/r",
    plan,
    head,
    hosts: names.map((name) =>
      HostSchema.parse({
        name,
        address: "192.0.2.1",
        compose: "docker-compose",
        host_key: `SHA256:${"A".repeat(43)}`,
      }),
    ),
    remote,
    makeDeployer: () => deployer,
    ledger,
    actor: "t",
    trigger: "cli",
    ...(concurrency ? { concurrency } : {}),
  });
  return { results, peak, deploys };
}

describe("runPlan concurrency", () => {
  it("deploys one stack to a 10-host fleet all at once by default, not in waves", async () => {
    const { results, peak } = await fanOut(10);
    expect(results.map((r) => r.status)).toEqual(Array(10).fill("succeeded"));
    expect(peak).toBe(10);
  });

  it("still bounds the jobs in flight overall (default and explicit)", async () => {
    expect((await fanOut(DEFAULT_CONCURRENCY.total + 4)).peak).toBe(DEFAULT_CONCURRENCY.total);
    expect((await fanOut(10, { total: 3 })).peak).toBe(3);
  });

  it("deploys nothing for a record that was ended before it started (recovery found its rollout stopped)", async () => {
    const { results, deploys } = await fanOut(2, undefined, false);
    expect(deploys).toBe(0);
    expect(results.map((r) => [r.status, r.error])).toEqual(
      Array(2).fill(["failed", "ended before it started (see its record)"]),
    );
  });
});
