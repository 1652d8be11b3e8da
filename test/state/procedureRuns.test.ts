import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { NewRun } from "../../src/state/procedureRuns.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const newRun = (over: Partial<NewRun> = {}): NewRun => ({
  repo: `acme/${randomUUID()}`,
  procedure: "rollout",
  source: "trigger",
  triggerName: "fleet",
  actor: "trigger fleet",
  ...over,
});

describe.each(backends)("procedure runs on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  it("makes one run of a delivery id however often it is delivered, even at once", async () => {
    const trigger = randomUUID();
    const input = newRun();
    const made = await Promise.all(
      Array.from({ length: 5 }, () => store.procedures.createRun(input, { trigger, key: "delivery:abc" })),
    );
    const ids = new Set(made.map((m) => m.id));
    expect(ids.size).toBe(1);
    expect(made.filter((m) => !m.duplicate)).toHaveLength(1);
    expect(await store.procedures.listRuns({ repo: input.repo })).toHaveLength(1);
  });

  it("makes one run of a body within its window and a new one after it", async () => {
    const trigger = randomUUID();
    const input = newRun();
    const first = await store.procedures.createRun(input, { trigger, key: "body:x", windowMs: 300 });
    const again = await store.procedures.createRun(input, { trigger, key: "body:x", windowMs: 300 });
    expect(again).toEqual({ id: first.id, duplicate: true });
    await sleep(400);
    const later = await store.procedures.createRun(input, { trigger, key: "body:x", windowMs: 300 });
    expect(later.duplicate).toBe(false);
    expect(later.id).not.toBe(first.id);
  });

  it("supersedes a run when a newer one of the same procedure and branch waits, never the newest", async () => {
    const repo = `acme/${randomUUID()}`;
    const older = await store.procedures.createRun(newRun({ repo }));
    const other = await store.procedures.createRun(newRun({ repo, procedure: "other" }));
    expect(await store.procedures.supersedeRunIfStale(older.id)).toBe(false);
    const newer = await store.procedures.createRun(newRun({ repo }));
    expect(await store.procedures.supersedeRunIfStale(newer.id)).toBe(false);
    expect(await store.procedures.supersedeRunIfStale(older.id)).toBe(true);
    expect(await store.procedures.supersedeRunIfStale(other.id)).toBe(false);
    expect((await store.procedures.getRun(older.id))?.status).toBe("superseded");
  });

  it("keeps a step that ended as it ended and counts the attempts of one that is resumed", async () => {
    const { id } = await store.procedures.createRun(newRun());
    const step = { kind: "deploy", name: "deploy db-*" };
    await store.procedures.setStep(id, "0.0", { ...step, status: "running", detail: { a: 1 } });
    await store.procedures.setStep(id, "0.0", { ...step, status: "running", detail: { b: 2 } });
    expect(await store.procedures.setStep(id, "0.0", { ...step, status: "succeeded" })).toBe(true);
    expect(await store.procedures.setStep(id, "0.0", { ...step, status: "failed", error: "late" })).toBe(
      false,
    );
    const [s] = await store.procedures.listSteps(id);
    expect(s).toMatchObject({ status: "succeeded", attempts: 2, detail: { a: 1, b: 2 }, error: null });
    expect(s?.finishedAt).toBeInstanceOf(Date);
  });

  it("records stacks stopped on purpose and forgets them on start", async () => {
    const target = { repo: `acme/${randomUUID()}`, stack: "db-main", host: "h1" };
    expect(await store.isStopped(target)).toBe(false);
    await store.markStopped(target, "alice");
    expect(await store.isStopped(target)).toBe(true);
    expect(await store.listStopped(target.repo)).toMatchObject([{ ...target, actor: "alice" }]);
    expect(await store.clearStopped(target)).toBe(true);
    expect(await store.isStopped(target)).toBe(false);
  });

  it("lets one caller claim a schedule slot", async () => {
    const repo = `acme/${randomUUID()}`;
    const slot = new Date("2026-01-01T04:00:00Z");
    const claims = await Promise.all(
      Array.from({ length: 4 }, () => store.procedures.claimSlot(repo, "nightly", slot)),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
  });
});
