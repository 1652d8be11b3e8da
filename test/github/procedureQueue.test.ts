// The procedure queue on a real pg-boss (PGlite): a queued run is picked up at once, not at the
// next poll, even while another run keeps a worker busy.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PgBoss } from "pg-boss";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProcedureQueue, type ProcedureQueue } from "../../src/github/jobs/procedureQueue.ts";
import { startBoss } from "../../src/state/boss.ts";
import { openStore, type Store } from "../../src/state/store.ts";

let tmp: string;
let store: Store;
let boss: PgBoss;
let queue: ProcedureQueue;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-procqueue-"));
  store = await openStore({ dataDir: join(tmp, "data") });
  boss = await startBoss(store);
  // A poll far longer than the test's bound: only a wake-up can pick a run up in time.
  queue = await createProcedureQueue(boss, { concurrency: 2, pollingIntervalSeconds: 30 });
}, 60_000);

afterAll(async () => {
  await queue?.stop().catch(() => {});
  await boss?.stop({ graceful: false, close: false }).catch(() => {});
  await store?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe("procedure queue", () => {
  it("hands a run to an idle worker at once while another worker is busy with a long run", async () => {
    const picked = new Map<number, number>();
    let release = () => {};
    const blocked = new Promise<void>((r) => {
      release = r;
    });
    await queue.work(async (runId) => {
      picked.set(runId, Date.now());
      if (runId === 1) await blocked;
    });
    const waitFor = async (id: number) => {
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && !picked.has(id); )
        await new Promise((r) => setTimeout(r, 10));
    };
    await queue.send(1);
    await waitFor(1);
    expect(picked.has(1)).toBe(true);
    try {
      for (const id of [2, 3, 4]) {
        const sent = Date.now();
        await queue.send(id);
        await waitFor(id);
        expect(picked.get(id), `run ${id} picked up`).toBeDefined();
        expect((picked.get(id) as number) - sent, `run ${id}'s pickup`).toBeLessThan(5_000);
      }
    } finally {
      release();
    }
  }, 90_000);
});
