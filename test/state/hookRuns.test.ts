// Hook attempts in the state store, on PGlite and Postgres: recorded as they start and end with
// their output bounded, numbered on after a crash, counted by hook and result for `status`.
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { NewDeployment } from "../../src/state/deployments.ts";
import { MAX_HOOK_OUTPUT_BYTES } from "../../src/state/hookRuns.ts";
import { TRUNCATION_MARKER } from "../../src/state/logBounds.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const COMMIT = "c0ffee0000000000000000000000000000000001";

function newDeployment(repo: string, overrides: Partial<NewDeployment> = {}): NewDeployment {
  return {
    repo,
    stack: "web",
    host: "h1",
    commit: COMMIT,
    fingerprint: `sha256:${"1".repeat(64)}`,
    actor: "alice",
    trigger: "merge",
    ...overrides,
  };
}

const newRepo = () => `acme/${randomUUID().slice(0, 8)}`;

describe.each(backends)("hook runs on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  /** A running deployment with these hook attempts made (`null`: cut off, never finished). */
  async function deploymentWith(
    repo: string,
    runs: [hook: string, status: "succeeded" | "failed" | "timed_out" | null][],
    overrides: Partial<NewDeployment> = {},
  ): Promise<number> {
    const id = await store.createDeployment(newDeployment(repo, overrides));
    await store.startDeployment(id);
    const attempts: Record<string, number> = {};
    for (const [hook, status] of runs) {
      attempts[hook] = (attempts[hook] ?? 0) + 1;
      const run = await store.startHookRun(id, { hook, attempt: attempts[hook], required: true });
      if (status)
        await store.finishHookRun(run, {
          status,
          exitCode: status === "timed_out" ? null : status === "succeeded" ? 0 : 1,
          durationMs: 1000,
          output: `${hook} ${status}\n`,
        });
    }
    return id;
  }

  it("records an attempt as it starts and once as it ends, its output bounded head and tail", async () => {
    const id = await store.createDeployment(newDeployment(newRepo()));
    const run = await store.startHookRun(id, { hook: "post_deploy", attempt: 1, required: false });
    expect(await store.listHookRuns(id)).toMatchObject([
      { id: run, hook: "post_deploy", attempt: 1, required: false, status: "running", durationMs: null },
    ]);
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join("\n");
    await store.finishHookRun(run, { status: "failed", exitCode: 2, durationMs: 1234.6, output: lines });
    await store.finishHookRun(run, { status: "succeeded", exitCode: 0, durationMs: 1, output: "later" });
    const [done] = await store.listHookRuns(id);
    expect(done).toMatchObject({ status: "failed", exitCode: 2, durationMs: 1235 });
    expect(done?.finishedAt).toBeInstanceOf(Date);
    expect(Buffer.byteLength(done?.output ?? "")).toBeLessThanOrEqual(MAX_HOOK_OUTPUT_BYTES + 100);
    expect(done?.output.startsWith("line 0\nline 1\n")).toBe(true);
    expect(done?.output.endsWith("line 4999")).toBe(true);
    expect(done?.output).toContain(TRUNCATION_MARKER);
  });

  it("numbers attempts on from deployments of the same target and commit cut off since its last end", async () => {
    const repo = newRepo();
    const target = { repo, stack: "web", host: "h1" };
    // Finished before: its attempts do not count.
    const earlier = await deploymentWith(repo, [["pre_deploy", "failed"]]);
    await store.finishDeployment(earlier, { status: "failed", error: "x" });
    // Two deployers died mid-hook; another commit's and another host's attempts do not count.
    const crashed1 = await deploymentWith(repo, [
      ["pre_deploy", "failed"],
      ["pre_deploy", null],
    ]);
    const crashed2 = await deploymentWith(repo, [
      ["pre_deploy", "succeeded"],
      ["post_deploy", null],
    ]);
    await deploymentWith(repo, [["pre_deploy", null]], { commit: "d".repeat(40) });
    await deploymentWith(repo, [["pre_deploy", null]], { host: "h2" });
    const retry = await store.createDeployment(newDeployment(repo));
    await store.interruptOthers(target, retry);
    expect((await store.getDeployment(crashed1))?.status).toBe("interrupted");
    expect((await store.getDeployment(crashed2))?.status).toBe("interrupted");
    expect(await store.priorHookAttempts(retry)).toEqual({ pre_deploy: 3, post_deploy: 1 });

    // Once a deployment of the target ended, the count starts anew.
    await store.startDeployment(retry);
    await store.finishDeployment(retry, { status: "succeeded" });
    const next = await store.createDeployment(newDeployment(repo));
    expect(await store.priorHookAttempts(next)).toEqual({});
  });

  it("counts runs by hook and result with their time, attempts cut off with their deployer as interrupted", async () => {
    const repo = newRepo();
    const a = await deploymentWith(repo, [
      ["pre_deploy", "failed"],
      ["pre_deploy", "succeeded"],
      ["post_deploy", "timed_out"],
    ]);
    await store.finishDeployment(a, { status: "rolled_back", error: "x" });
    const b = await deploymentWith(repo, [
      ["pre_deploy", "succeeded"],
      ["post_deploy", null],
    ]);
    await store.interruptOthers({ repo, stack: "web", host: "h1" }, b + 1_000_000);
    await deploymentWith(repo, [["post_sync", null]]); // still running
    await deploymentWith(newRepo(), [["pre_deploy", "failed"]]); // another repository

    expect(await store.hookStats(repo)).toEqual([
      { hook: "post_deploy", status: "interrupted", runs: 1, totalMs: 0 },
      { hook: "post_deploy", status: "timed_out", runs: 1, totalMs: 1000 },
      { hook: "post_sync", status: "running", runs: 1, totalMs: 0 },
      { hook: "pre_deploy", status: "failed", runs: 1, totalMs: 1000 },
      { hook: "pre_deploy", status: "succeeded", runs: 2, totalMs: 2000 },
    ]);
  });

  it("refuses a hook name the product does not know", async () => {
    const id = await store.createDeployment(newDeployment(newRepo()));
    await expect(
      store.startHookRun(id, { hook: "pre_everything", attempt: 1, required: true }),
    ).rejects.toThrow();
  });
});
