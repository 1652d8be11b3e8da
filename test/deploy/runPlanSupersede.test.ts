// One (stack, host) at a time, newest wins: a deploy that finds its target busy waits for it, and
// gives way when a newer deployment of the same target is queued meanwhile. On both backends.
import { describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import type { DeployRequest, DeployResult, HostDeployer } from "../../src/deploy/hostDeploy.ts";
import { type HostJobResult, runPlan } from "../../src/deploy/orchestrate.ts";
import type { RemoteExec } from "../../src/deploy/runner.ts";
import type { Snapshot } from "../../src/detect/snapshot.ts";
import type { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";
import { deployLockKey } from "../../src/state/deployments.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();
const TARGET = { repo: "o/r", stack: "web", host: "h1" };
const WAIT = { pollMs: 20, maxMs: 5_000 };

function deployAt(
  store: Store,
  commit: string,
  deployed: string[],
  targetWait = WAIT,
): Promise<HostJobResult[]> {
  const deployer = {
    async deploy(req: DeployRequest): Promise<DeployResult> {
      deployed.push(req.commit);
      return { status: "succeeded", release: req.commit, uploadBytes: 1, timings: {} };
    },
  } as unknown as HostDeployer;
  const remote: RemoteExec = {
    exec: async () => {
      throw new Error("no remote command expected");
    },
  };
  return runPlan({
    repo: { dir: "/nonexistent" } as GitRepo,
    repoId: TARGET.repo,
    plan: {
      stacks: [{ name: "web", targets: [{ host: "h1", action: "deploy", reasons: [] }] }],
    } as unknown as Plan,
    head: { commit, stacks: new Map([["web", { fingerprint: `f-${commit}` }]]) } as unknown as Snapshot,
    hosts: [
      HostSchema.parse({
        name: "h1",
        address: "192.0.2.1",
        compose: "docker-compose",
        trust_on_first_use: true,
      }),
    ],
    remote,
    makeDeployer: () => deployer,
    ledger: store,
    actor: "t",
    trigger: "merge",
    targetWait,
  });
}

async function until(cond: () => Promise<boolean>) {
  for (let i = 0; i < 500 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
}

describe.each(backends)("waiting for a busy target on $name", (backend) => {
  it("runs only the newest of two deployments queued behind a busy target; the older is superseded", async () => {
    const store = await backend.openStore();
    const key = deployLockKey(TARGET);
    expect(await store.acquireLock(key, "someone else", 60_000)).toBe(true);
    const deployed: string[] = [];
    const older = deployAt(store, "a".repeat(40), deployed);
    await until(async () => (await store.listDeployments({ limit: 10 })).length === 1);
    const newer = deployAt(store, "b".repeat(40), deployed);
    const [olderResult] = await older; // superseded while waiting: the newer one is queued
    expect(olderResult).toMatchObject({ status: "superseded" });
    expect(deployed).toEqual([]);

    await store.releaseLock(key, "someone else");
    const [newerResult] = await newer;
    expect(newerResult).toMatchObject({ status: "succeeded" });
    expect(deployed).toEqual(["b".repeat(40)]);
    const rows = await store.listDeployments({ limit: 10 });
    expect(rows.map((d) => [d.commit[0], d.status]).sort()).toEqual([
      ["a", "superseded"],
      ["b", "succeeded"],
    ]);
  });

  it("waits for a busy target and deploys once it is free", async () => {
    const store = await backend.openStore();
    const key = deployLockKey(TARGET);
    expect(await store.acquireLock(key, "someone else", 60_000)).toBe(true);
    const deployed: string[] = [];
    const run = deployAt(store, "c".repeat(40), deployed);
    await new Promise((r) => setTimeout(r, 100));
    expect(deployed).toEqual([]);
    await store.releaseLock(key, "someone else");
    expect((await run)[0]).toMatchObject({ status: "succeeded" });
    expect(deployed).toEqual(["c".repeat(40)]);
  });

  it("gives up after the wait limit with the holder named, and deploys nothing", async () => {
    const store = await backend.openStore();
    expect(await store.acquireLock(deployLockKey(TARGET), "ci run 7", 60_000)).toBe(true);
    const deployed: string[] = [];
    const [result] = await deployAt(store, "d".repeat(40), deployed, { pollMs: 20, maxMs: 100 });
    expect(result?.status).toBe("failed");
    expect(result?.error).toContain("ci run 7");
    expect(deployed).toEqual([]);
  });
});
