import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  deployLockKey,
  INTERRUPTED_ERROR,
  NEVER_STARTED_ERROR,
  type NewDeployment,
} from "../../src/state/deployments.ts";
import { TRUNCATION_MARKER } from "../../src/state/logBounds.ts";
import { rolloutLockKey } from "../../src/state/rollouts.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const KiB = 1024;

function newDeployment(overrides: Partial<NewDeployment> = {}): NewDeployment {
  return {
    repo: `acme/${randomUUID().slice(0, 8)}`,
    stack: "web",
    host: "h1",
    commit: "c0ffee0000000000000000000000000000000001",
    fingerprint: `sha256:${"1".repeat(64)}`,
    actor: "alice",
    trigger: "merge",
    ...overrides,
  };
}

describe.each(backends)("deployments on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  it("records a deployment from queued through running to succeeded with timings", async () => {
    const input = newDeployment({ release: "r-1" });
    const id = await store.createDeployment(input);
    const queued = await store.getDeployment(id);
    expect(queued).toMatchObject({
      ...input,
      status: "queued",
      startedAt: null,
      finishedAt: null,
      error: null,
    });

    expect(await store.startDeployment(id)).toBe(true);
    expect(await store.startDeployment(id)).toBe(false); // already running
    expect(await store.finishDeployment(id, { status: "succeeded", timings: { pull: 1200, up: 3400 } })).toBe(
      true,
    );

    const done = await store.getDeployment(id);
    expect(done).toMatchObject({
      status: "succeeded",
      timings: { pull: 1200, up: 3400 },
      release: "r-1",
      logs: [],
    });
    expect(done?.startedAt).toBeInstanceOf(Date);
    expect(done?.finishedAt?.getTime()).toBeGreaterThanOrEqual(done?.startedAt?.getTime() ?? Infinity);
  });

  it("keeps the first ending: a late finish does not overwrite it", async () => {
    const id = await store.createDeployment(newDeployment());
    await store.startDeployment(id);
    expect(await store.finishDeployment(id, { status: "failed", error: "compose up exited 1" })).toBe(true);
    expect(await store.finishDeployment(id, { status: "succeeded" })).toBe(false);
    expect(await store.getDeployment(id)).toMatchObject({ status: "failed", error: "compose up exited 1" });
  });

  it("rejects a trigger outside the allowed set", async () => {
    await expect(store.createDeployment(newDeployment({ trigger: "cron" as never }))).rejects.toThrow(
      /check/i,
    );
  });

  it("stores command logs in order with their exit codes", async () => {
    const id = await store.createDeployment(newDeployment());
    await store.appendCommandLog(id, { command: "docker compose pull", code: 0, output: "pulled\n" });
    await store.appendCommandLog(id, {
      command: "docker compose up -d",
      code: 1,
      output: "érror: ✗ port in use\n",
    });
    await store.appendCommandLog(id, { command: "timeout", code: null, output: "" });
    const logs = (await store.getDeployment(id))?.logs;
    expect(logs?.map(({ seq, command, code, output }) => ({ seq, command, code, output }))).toEqual([
      { seq: 1, command: "docker compose pull", code: 0, output: "pulled\n" },
      { seq: 2, command: "docker compose up -d", code: 1, output: "érror: ✗ port in use\n" },
      { seq: 3, command: "timeout", code: null, output: "" },
    ]);
  });

  it("bounds one command's output to 64 KiB, keeping its start and end around a truncation marker", async () => {
    const id = await store.createDeployment(newDeployment());
    const output = `START${"x".repeat(200 * KiB)}ö${"y".repeat(100 * KiB)}END`;
    const appended = await store.appendCommandLog(id, { command: "docker compose pull", code: 0, output });
    const [log] = (await store.getDeployment(id))?.logs ?? [];
    const stored = log?.output ?? "";
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(64 * KiB);
    expect(Buffer.byteLength(stored)).toBeGreaterThan(63 * KiB);
    expect(stored.startsWith("START")).toBe(true);
    expect(stored.endsWith("END")).toBe(true);
    expect(stored).toContain(`${TRUNCATION_MARKER}, ${appended.omittedBytes} bytes omitted]`);
    expect(appended.omittedBytes).toBe(
      Buffer.byteLength(output) - Buffer.byteLength(stored.replace(/\n\[stackpilot[^\]]*\]\n/, "")),
    );
    expect(stored).not.toContain("\uFFFD"); // no multi-byte character cut in half
  });

  it("bounds a deployment's logs to 1 MiB in total, then keeps only a marker per command", async () => {
    const id = await store.createDeployment(newDeployment());
    const chunk = "z".repeat(60 * KiB);
    for (let i = 0; i < 20; i++) {
      await store.appendCommandLog(id, { command: `step ${i}`, code: 0, output: chunk });
    }
    const logs = (await store.getDeployment(id))?.logs ?? [];
    expect(logs.map((l) => l.command)).toEqual(Array.from({ length: 20 }, (_, i) => `step ${i}`));
    const total = logs.reduce((sum, l) => sum + Buffer.byteLength(l.output), 0);
    expect(total).toBeLessThanOrEqual(1024 * KiB + 4 * KiB); // markers of the commands past the limit
    expect(logs[0]?.output).toBe(chunk);
    const last = logs.at(-1)?.output ?? "";
    expect(last).toContain(TRUNCATION_MARKER);
    expect(last).toContain("reached its limit of 1048576 bytes");
    expect(last.length).toBeLessThan(200);
  });

  it("keeps seq and the byte budget exact under concurrent appends", async () => {
    const id = await store.createDeployment(newDeployment());
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.appendCommandLog(id, { command: `c${i}`, code: 0, output: "o" }),
      ),
    );
    const logs = (await store.getDeployment(id))?.logs ?? [];
    expect(logs.map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(logs.map((l) => l.command)).size).toBe(10);
  });

  it("refuses logs for a deployment that does not exist", async () => {
    await expect(store.appendCommandLog(987654321, { command: "x", code: 0, output: "" })).rejects.toThrow(
      /no deployment/,
    );
  });

  it("lists deployments newest first, filtered by repo, stack and host", async () => {
    const repo = `acme/${randomUUID().slice(0, 8)}`;
    const a = await store.createDeployment(newDeployment({ repo, stack: "web", host: "h1" }));
    const b = await store.createDeployment(newDeployment({ repo, stack: "web", host: "h2" }));
    const c = await store.createDeployment(newDeployment({ repo, stack: "db", host: "h1" }));
    await store.createDeployment(newDeployment()); // another repo
    const ids = async (filter: Parameters<Store["listDeployments"]>[0]) =>
      (await store.listDeployments(filter)).map((d) => d.id);
    expect(await ids({ repo, limit: 10 })).toEqual([c, b, a]);
    expect(await ids({ repo, stack: "web", limit: 10 })).toEqual([b, a]);
    expect(await ids({ repo, host: "h1", limit: 10 })).toEqual([c, a]);
    expect(await ids({ repo, stack: "web", host: "h2", limit: 10 })).toEqual([b]);
    expect(await ids({ repo, limit: 2 })).toEqual([c, b]);
  });

  it("supersedes a queued deployment only when a newer one exists for the same target", async () => {
    const repo = `acme/${randomUUID().slice(0, 8)}`;
    const older = await store.createDeployment(newDeployment({ repo }));
    const otherHost = await store.createDeployment(newDeployment({ repo, host: "h2" }));
    expect(await store.supersedeIfStale(older)).toBe(false); // a newer row, but for another host
    const newer = await store.createDeployment(newDeployment({ repo }));
    expect(await store.supersedeIfStale(older)).toBe(true);
    expect(await store.supersedeIfStale(newer)).toBe(false);
    expect((await store.getDeployment(older))?.status).toBe("superseded");
    expect((await store.getDeployment(otherHost))?.status).toBe("queued");
  });

  it("marks a running deployment whose lock expired as interrupted, and leaves one with a live lock alone", async () => {
    const dead = newDeployment();
    const alive = newDeployment();
    const deadId = await store.createDeployment(dead);
    const aliveId = await store.createDeployment(alive);
    await store.startDeployment(deadId);
    await store.startDeployment(aliveId);
    expect(await store.acquireLock(deployLockKey(dead), "crashed-worker", 50)).toBe(true);
    expect(await store.acquireLock(deployLockKey(alive), "live-worker", 60_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 120));

    const recovered = await store.recoverInterrupted();
    expect(recovered.map((d) => d.id)).toContain(deadId);
    expect(recovered.map((d) => d.id)).not.toContain(aliveId);
    expect(await store.getDeployment(deadId)).toMatchObject({
      status: "interrupted",
      error: INTERRUPTED_ERROR,
    });
    expect((await store.getDeployment(aliveId))?.status).toBe("running");
    expect((await store.recoverInterrupted()).map((d) => d.id)).not.toContain(deadId); // only once
    await store.releaseLock(deployLockKey(alive), "live-worker");
  });

  it("ends a queued deployment whose rollout lost its lease or ended, and leaves those of a live rollout or none alone", async () => {
    const rollout = (repo: string) =>
      store.createRollout({
        repo,
        installationId: 1,
        environment: "production",
        commit: "c".repeat(40),
        trigger: "merge",
        actor: "alice",
      });
    const stranded = newDeployment();
    const dead = await rollout(stranded.repo);
    const live = await rollout(stranded.repo);
    expect(await store.acquireLock(rolloutLockKey(live), "live-worker", 60_000)).toBe(true);
    const strandedId = await store.createDeployment({ ...stranded, rolloutId: dead });
    const waitingId = await store.createDeployment({ ...newDeployment(), rolloutId: live });
    const cliId = await store.createDeployment(newDeployment());
    // The dead process's rollout holds no lease: its queued deployment will never start.
    const recovered = (await store.recoverInterrupted()).map((d) => d.id);
    expect(recovered).toContain(strandedId);
    expect(recovered).not.toContain(waitingId);
    expect(recovered).not.toContain(cliId);
    expect(await store.getDeployment(strandedId)).toMatchObject({
      status: "interrupted",
      error: NEVER_STARTED_ERROR,
    });
    // Its deployer, were it alive after all, would find it no longer queued and not start it.
    expect(await store.startDeployment(strandedId)).toBe(false);
    expect((await store.getDeployment(waitingId))?.status).toBe("queued");
    // A rollout that ended (here: found interrupted) strands its queued deployments too.
    const ended = await rollout(stranded.repo);
    const leftId = await store.createDeployment({ ...newDeployment(), rolloutId: ended });
    expect(await store.acquireLock(rolloutLockKey(ended), "other-worker", 60_000)).toBe(true);
    await store.finishRollout(ended, { status: "failed", error: "x", reported: true });
    expect((await store.recoverInterrupted()).map((d) => d.id)).toEqual([leftId]);
    await store.releaseLock(rolloutLockKey(live), "live-worker");
    await store.releaseLock(rolloutLockKey(ended), "other-worker");
  });

  it("unlocks a target by hand: its lock freed and its running deployment failed with who unlocked it, in one step", async () => {
    const repo = `acme/${Math.random().toString(36).slice(2)}`;
    const base = { repo, commit: "c".repeat(40), fingerprint: "f", actor: "a", trigger: "merge" as const };
    const held = { repo, stack: "web", host: "h1" };
    const running = await store.createDeployment({ ...base, ...held });
    await store.startDeployment(running);
    const elsewhere = await store.createDeployment({ ...base, stack: "web", host: "h2" });
    await store.startDeployment(elsewhere);
    const waiting = await store.createDeployment({ ...base, ...held });
    expect(await store.acquireLock(deployLockKey(held), "deployer-1", 60_000)).toBe(true);
    expect(await store.unlockTarget(held, "@alice with /unlock")).toBe(true);
    expect(await store.getLock(deployLockKey(held))).toBeUndefined();
    expect(await store.getDeployment(running)).toMatchObject({
      status: "failed",
      error: `lost the lock ${deployLockKey(held)}: unlocked by @alice with /unlock`,
    });
    // The deployer's own late finish changes nothing; other targets and queued ones are untouched.
    expect(await store.finishDeployment(running, { status: "succeeded" })).toBe(false);
    expect((await store.getDeployment(elsewhere))?.status).toBe("running");
    expect((await store.getDeployment(waiting))?.status).toBe("queued");
    // No lock held: nothing is touched.
    expect(await store.unlockTarget({ repo, stack: "web", host: "h2" }, "bob")).toBe(false);
    expect((await store.getDeployment(elsewhere))?.status).toBe("running");
  });

  it("interrupts the target's other running deployments when one holds its lock, and no other target's", async () => {
    const repo = `acme/${Math.random().toString(36).slice(2)}`;
    const base = { repo, commit: "c".repeat(40), fingerprint: "f", actor: "a", trigger: "merge" as const };
    const dead = await store.createDeployment({ ...base, stack: "web", host: "h1" });
    await store.startDeployment(dead);
    const elsewhere = await store.createDeployment({ ...base, stack: "web", host: "h2" });
    await store.startDeployment(elsewhere);
    const self = await store.createDeployment({ ...base, stack: "web", host: "h1" });
    const cut = await store.interruptOthers({ repo, stack: "web", host: "h1" }, self);
    expect(cut.map((d) => d.id)).toEqual([dead]);
    expect(await store.getDeployment(dead)).toMatchObject({
      status: "interrupted",
      error: INTERRUPTED_ERROR,
    });
    expect((await store.getDeployment(elsewhere))?.status).toBe("running");
    expect((await store.getDeployment(self))?.status).toBe("queued");
  });
});

describe.each(backends)("deployed state on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  const target = (repo: string, stack = "web", host = "h1") => ({ repo, stack, host });

  it("returns what was last deployed per stack and host of a repo", async () => {
    const repo = `acme/${randomUUID().slice(0, 8)}`;
    await store.setDeployed({ ...target(repo), fingerprint: "sha256:f1", commit: "1111111", release: "r1" });
    await store.setDeployed({ ...target(repo, "db"), fingerprint: "sha256:f2", commit: "2222222" });
    await store.setDeployed({ ...target(repo), fingerprint: "sha256:f3", commit: "3333333", release: "r3" });
    await store.setDeployed({ ...target(`${repo}-other`), fingerprint: "sha256:x", commit: "4444444" });

    const deployed = await store.getDeployed(repo);
    expect(
      deployed.map(({ stack, host, fingerprint, commit, pinned, release }) => ({
        stack,
        host,
        fingerprint,
        commit,
        pinned,
        release,
      })),
    ).toEqual([
      { stack: "db", host: "h1", fingerprint: "sha256:f2", commit: "2222222", pinned: false, release: null },
      { stack: "web", host: "h1", fingerprint: "sha256:f3", commit: "3333333", pinned: false, release: "r3" },
    ]);
  });

  it("pins on rollback, keeps the pin through an unflagged update, and clears it on an explicit deploy", async () => {
    const repo = `acme/${randomUUID().slice(0, 8)}`;
    await store.setDeployed({ ...target(repo), fingerprint: "sha256:new", commit: "2222222" });
    await store.setDeployed({ ...target(repo), fingerprint: "sha256:old", commit: "1111111", pinned: true });
    expect((await store.getDeployed(repo))[0]).toMatchObject({ commit: "1111111", pinned: true });

    await store.setDeployed({ ...target(repo), fingerprint: "sha256:old", commit: "1111111" });
    expect((await store.getDeployed(repo))[0]?.pinned).toBe(true);

    await store.setDeployed({ ...target(repo), fingerprint: "sha256:new", commit: "2222222", pinned: false });
    expect((await store.getDeployed(repo))[0]).toMatchObject({ commit: "2222222", pinned: false });
  });

  it("pins and unpins a deployed target, and reports a target with nothing deployed", async () => {
    const repo = `acme/${randomUUID().slice(0, 8)}`;
    await store.setDeployed({ ...target(repo), fingerprint: "sha256:f", commit: "1111111" });
    expect(await store.pin(target(repo))).toBe(true);
    expect((await store.getDeployed(repo))[0]?.pinned).toBe(true);
    expect(await store.unpin(target(repo))).toBe(true);
    expect((await store.getDeployed(repo))[0]?.pinned).toBe(false);
    expect(await store.pin(target(repo, "nope"))).toBe(false);
  });

  it("names each repository with records and its latest rollout's installation (none: the CLI deployed it)", async () => {
    const byApp = `acme/${randomUUID().slice(0, 8)}`;
    const byCli = `acme/${randomUUID().slice(0, 8)}`;
    const rollout = (installationId: number) =>
      store.createRollout({
        repo: byApp,
        installationId,
        environment: "production",
        commit: "1".repeat(40),
        trigger: "merge",
        actor: "alice",
      });
    await rollout(11);
    await rollout(12);
    await store.setDeployed({ ...target(byApp), fingerprint: "sha256:f", commit: "1111111" });
    await store.setDeployed({ ...target(byCli), fingerprint: "sha256:f", commit: "1111111" });
    const rows = (await store.deployedInstallations()).filter((r) => [byApp, byCli].includes(r.repo));
    expect(rows.sort((a, b) => a.repo.localeCompare(b.repo))).toEqual(
      [
        { repo: byApp, installationId: 12 },
        { repo: byCli, installationId: null },
      ].sort((a, b) => a.repo.localeCompare(b.repo)),
    );
  });
});
