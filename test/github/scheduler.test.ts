import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { fireDueSchedules, MAX_LATE_MS } from "../../src/github/jobs/scheduler.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const [pglite] = useStateBackends();
let store: Store;

beforeAll(async () => {
  store = await (pglite as NonNullable<typeof pglite>).sharedStore();
});

const quiet = { info() {}, warn() {} };

/** A repository with one schedule; what each replica's round queues, and the runs made. */
async function scheduled(cron: string, timezone?: string) {
  const owner = "acme";
  const name = randomUUID();
  const fullName = `${owner}/${name}`;
  await store.procedures.setSchedules(
    { installationId: 1, owner, name, fullName, cloneUrl: "http://git.test/x.git", defaultBranch: "main" },
    [{ procedure: "nightly", cron, ...(timezone ? { timezone } : {}) }],
  );
  const queued: number[] = [];
  const round = async (now: string) => {
    await fireDueSchedules({
      store,
      queue: { send: async (id) => void queued.push(id) },
      log: quiet,
      now: () => new Date(now),
    });
    return (await store.procedures.listRuns({ repo: fullName, limit: 100 })).map((r) => r.id);
  };
  return { round, queued };
}

describe("scheduled procedures", () => {
  it("fires a slot once however many replicas run the round, and the next slot again", async () => {
    const s = await scheduled("0 4 * * *");
    const first = await Promise.all(["a", "b", "c"].map(() => s.round("2026-03-02T04:00:30Z")));
    expect(first.at(-1)).toHaveLength(1);
    expect(s.queued).toEqual(first.at(-1));
    expect(await s.round("2026-03-02T04:01:00Z")).toHaveLength(1);
    expect(await s.round("2026-03-03T04:00:10Z")).toHaveLength(2);
  });

  it("reads the cron in its time zone", async () => {
    // 04:00 in Berlin is 03:00 UTC in winter.
    const s = await scheduled("0 4 * * *", "Europe/Berlin");
    expect(await s.round("2026-01-15T04:00:30Z")).toHaveLength(0);
    expect(await s.round("2026-01-15T03:00:30Z")).toHaveLength(1);
  });

  it("does not run a slot missed by more than a few minutes (the App was down)", async () => {
    const s = await scheduled("0 4 * * *");
    const late = new Date(Date.parse("2026-03-02T04:00:00Z") + MAX_LATE_MS + 1000).toISOString();
    expect(await s.round(late)).toHaveLength(0);
    expect(s.queued).toEqual([]);
  });
});
