/**
 * A heal must never undo or hold back a real deploy: it gives way when the record changed while it
 * waited, is superseded by a newer deploy, and never supersedes a deploy waiting for the target.
 */
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { healLedger } from "../../src/drift/healLedger.ts";
import type { DeployTrigger } from "../../src/state/deployments.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();
const A = "a".repeat(40);
const B = "b".repeat(40);

describe.each(backends)("heal deployments on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  const target = () => ({ repo: `acme/${randomUUID()}`, stack: "web", host: "h1" });
  const queue = (t: ReturnType<typeof target>, trigger: DeployTrigger, commit = A) =>
    store.createDeployment({ ...t, commit, fingerprint: "sha256:x", actor: "x", trigger });
  const statusOf = async (id: number) => (await store.getDeployment(id))?.status;

  async function recorded(t: ReturnType<typeof target>) {
    const id = await queue(t, "merge");
    await store.finishDeployment(id, { status: "succeeded" });
    await store.setDeployed({ ...t, fingerprint: "sha256:x", commit: A, release: A, deploymentId: id });
    return id;
  }

  it("goes ahead while the record is what the round read", async () => {
    const t = target();
    const deploymentId = await recorded(t);
    const ledger = healLedger(store, [{ ...t, commit: A, deploymentId }]);
    const heal = await ledger.createDeployment({
      ...t,
      commit: A,
      fingerprint: "sha256:x",
      actor: "stackpilot",
      trigger: "heal",
    });
    expect(await ledger.supersedeIfStale(heal)).toBe(false);
    expect(await statusOf(heal)).toBe("queued");
  });

  it("gives way when a deploy changed the record, or a rollback pinned it, while it waited", async () => {
    for (const change of ["deploy", "pin"] as const) {
      const t = target();
      const deploymentId = await recorded(t);
      const ledger = healLedger(store, [{ ...t, commit: A, deploymentId }]);
      const heal = await ledger.createDeployment({
        ...t,
        commit: A,
        fingerprint: "sha256:x",
        actor: "stackpilot",
        trigger: "heal",
      });
      if (change === "pin") await store.pin(t);
      else
        await store.setDeployed({ ...t, fingerprint: "sha256:y", commit: B, release: B, deploymentId: null });
      expect(await ledger.supersedeIfStale(heal)).toBe(true);
      const d = await store.getDeployment(heal);
      expect([change, d?.status, d?.error]).toEqual([
        change,
        "superseded",
        "the record changed while this heal waited: not healed",
      ]);
    }
  });

  it("never supersedes a deploy waiting for the target, and is superseded by a newer one", async () => {
    const t = target();
    const waiting = await queue(t, "merge", B);
    const heal = await queue(t, "heal");
    expect(await store.supersedeIfStale(waiting)).toBe(false);
    expect(await statusOf(waiting)).toBe("queued");
    const newer = await queue(t, "command", B);
    expect(await store.supersedeIfStale(heal)).toBe(true);
    expect(await store.supersedeIfStale(waiting)).toBe(true);
    expect(await statusOf(newer)).toBe("queued");
  });

  it("counts a target's heals for its limits, newest first, within the window", async () => {
    const t = target();
    await recorded(t);
    const first = await queue(t, "heal");
    await store.finishDeployment(first, { status: "failed", error: "x" });
    const second = await queue(t, "heal");
    expect((await store.healAttempts(t, 3_600_000)).map((a) => [a.id, a.status])).toEqual([
      [second, "queued"],
      [first, "failed"],
    ]);
    expect(await store.healAttempts(t, 0)).toEqual([]);
  });
});
