import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { LockBusyError } from "../../src/state/locks.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const newKey = () => `deploy:acme/${randomUUID()}:web:h1`;

describe.each(backends)("locks on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  it("lets exactly one of many concurrent contenders take a free lock", async () => {
    const key = newKey();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.acquireLock(key, `holder-${i}`, 60_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = `holder-${results.indexOf(true)}`;
    expect((await store.getLock(key))?.holder).toBe(winner);
  });

  it("is not re-entrant: the holder itself cannot take it twice", async () => {
    const key = newKey();
    expect(await store.acquireLock(key, "a", 60_000)).toBe(true);
    expect(await store.acquireLock(key, "a", 60_000)).toBe(false);
  });

  it("lets another holder take over an expired lock, and the old holder cannot heartbeat it back", async () => {
    const key = newKey();
    expect(await store.acquireLock(key, "dead", 50, { pid: 1 })).toBe(true);
    expect(await store.acquireLock(key, "next", 60_000)).toBe(false);
    await sleep(120);
    expect((await store.getLock(key))?.expired).toBe(true);
    expect(await store.heartbeat(key, "dead", 60_000)).toBe(false); // expired locks are not revived
    expect(await store.acquireLock(key, "next", 60_000, { pid: 2 })).toBe(true);
    expect(await store.getLock(key)).toMatchObject({ holder: "next", expired: false, details: { pid: 2 } });
    expect(await store.releaseLock(key, "dead")).toBe(false);
    expect((await store.getLock(key))?.holder).toBe("next");
  });

  it("stays held past its ttl while the holder heartbeats", async () => {
    const key = newKey();
    expect(await store.acquireLock(key, "a", 300)).toBe(true);
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      expect(await store.heartbeat(key, "a", 300)).toBe(true);
    }
    expect(await store.acquireLock(key, "b", 300)).toBe(false);
    expect(await store.heartbeat(key, "b", 300)).toBe(false); // only the holder can
  });

  it("withLock heartbeats while fn runs longer than the ttl, then releases", async () => {
    const key = newKey();
    const result = await store.withLock(key, "a", 300, async (signal) => {
      await sleep(900);
      expect(signal.aborted).toBe(false);
      expect(await store.acquireLock(key, "b", 300)).toBe(false);
      return "done";
    });
    expect(result).toBe("done");
    expect(await store.getLock(key)).toBeUndefined();
  });

  it("withLock releases the lock when fn throws", async () => {
    const key = newKey();
    await expect(
      store.withLock(key, "a", 60_000, async () => {
        throw new Error("deploy blew up");
      }),
    ).rejects.toThrow("deploy blew up");
    expect(await store.getLock(key)).toBeUndefined();
    expect(await store.acquireLock(key, "b", 60_000)).toBe(true);
  });

  it("withLock refuses a held lock, naming its holder", async () => {
    const key = newKey();
    await store.acquireLock(key, "busy-holder", 60_000);
    const run = store.withLock(key, "a", 60_000, async () => "ran");
    await expect(run).rejects.toBeInstanceOf(LockBusyError);
    await expect(run).rejects.toThrow(/busy-holder/);
  });

  it("aborts withLock's signal when the lock is force-unlocked and taken by someone else", async () => {
    const key = newKey();
    const seen = await store.withLock(key, "a", 300, async (signal) => {
      expect(await store.forceUnlock(key)).toBe(true);
      expect(await store.acquireLock(key, "b", 60_000)).toBe(true);
      await sleep(400);
      return signal.aborted;
    });
    expect(seen).toBe(true);
    expect((await store.getLock(key))?.holder).toBe("b"); // the loser's release left it alone
  });

  it("lists locks with their holder, details and expiry", async () => {
    const key = newKey();
    await store.acquireLock(key, "worker-1", 60_000, { deploymentId: 42 });
    const lock = (await store.listLocks()).find((l) => l.key === key);
    expect(lock).toMatchObject({ key, holder: "worker-1", details: { deploymentId: 42 }, expired: false });
    expect(lock?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(await store.forceUnlock(key)).toBe(true);
    expect(await store.forceUnlock(key)).toBe(false);
  });
});

describe.each(backends)("webhook deliveries on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });

  it("records a delivery id once: true the first time, false after", async () => {
    const id = randomUUID();
    expect(await store.recordDelivery(id, "push")).toBe(true);
    expect(await store.recordDelivery(id, "push")).toBe(false);
    expect(await store.recordDelivery(randomUUID(), "push")).toBe(true);
  });

  it("lets exactly one of 20 concurrent duplicates win", async () => {
    const id = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.recordDelivery(id, "pull_request")),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("prunes old deliveries, after which an id counts as new", async () => {
    const id = randomUUID();
    await store.recordDelivery(id, "push");
    await sleep(60);
    expect(await store.pruneDeliveries(50)).toBeGreaterThanOrEqual(1);
    expect(await store.recordDelivery(id, "push")).toBe(true);
  });
});
