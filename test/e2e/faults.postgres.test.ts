// Faults against Apps sharing a PostgreSQL server: SIGKILL inside a step and a restart, a second
// replica taking over, `/unlock` mid-deploy, PostgreSQL restarted mid-deploy, a host killed
// mid-deploy, and two pull requests racing for one target. Each ends with no record lost, no
// duplicate deploy, and every host running what the state store says. The table is printed;
// README has a full run's.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, type Store } from "../../src/state/store.ts";
import { type AppProcess, startAppProcess } from "../helpers/appProcess.ts";
import { type PostgresServer, startPostgres } from "../helpers/postgresServer.ts";
import {
  checkRow,
  currentOn,
  type FaultRow,
  killInsideStep,
  printRows,
  REPO,
  startWorld,
  type World,
  waitFor,
} from "./faults/world.ts";

let w: World;
let pg: PostgresServer;
let databaseUrl: string;
let store: Store;
const apps: AppProcess[] = [];
let last: string;
let version = 0;
let deliveries = 0;
const rows: FaultRow[] = [];

const start = async (name: string) => {
  const app = await startAppProcess(
    w.appEnv({ DATABASE_URL: databaseUrl, STACKPILOT_DATA_DIR: join(w.tmp, `data-${name}`) }),
  );
  apps.push(app);
  return app;
};

beforeAll(async () => {
  w = await startWorld();
  pg = await startPostgres();
  databaseUrl = await pg.createDatabase();
  last = w.repo.bareGit("rev-parse", "main");
}, 300_000);

afterAll(async () => {
  printRows(rows);
  for (const a of apps) await a.stop();
  await store?.close();
  await pg?.stop();
  await w?.close();
});

/** A new version of the slow stack on main, pushed to `app`; its commit and version. */
async function push(app: AppProcess, startupS = 5): Promise<{ sha: string; version: string }> {
  const v = String(++version);
  const sha = w.commitSlow(v, "main", startupS);
  expect(await app.deliver("push", w.pushPayload(last, sha), `push-${++deliveries}`)).toBe(200);
  last = sha;
  return { sha, version: v };
}

const succeededOnGitHub = (sha: string) =>
  w.github.deployments.find((d) => d.body.ref === sha && d.statuses.at(-1)?.state === "success");

describe("faults, shared PostgreSQL", () => {
  it("a first deploy reaches every host (the baseline)", async () => {
    const app = await start("a");
    store = await openStore({ dataDir: w.tmp, databaseUrl });
    const { sha, version: v } = await push(app);
    await waitFor("the baseline deploy", () => succeededOnGitHub(sha));
    await checkRow(w, store, "baseline", sha, v);
  }, 300_000);

  it("SIGKILL inside compose up / the health wait, then a restart: resumed within two minutes", async () => {
    const app = apps.at(-1) as AppProcess;
    const { sha, version: v } = await push(app);
    await killInsideStep(w, app, sha);
    const restarted = Date.now();
    await start("a");
    await waitFor("the resumed rollout", () => succeededOnGitHub(sha));
    expect(Date.now() - restarted).toBeLessThan(120_000);
    rows.push(await checkRow(w, store, "SIGKILL inside compose up / health wait (Postgres)", sha, v));
  }, 400_000);

  it("a second replica takes over the rollout of one that was killed", async () => {
    const a = apps.at(-1) as AppProcess;
    const b = await start("b");
    const { sha, version: v } = await push(a);
    await killInsideStep(w, a, sha);
    const killed = Date.now();
    await waitFor("the rollout resumed by the other replica", () => succeededOnGitHub(sha));
    expect(Date.now() - killed).toBeLessThan(150_000);
    rows.push(await checkRow(w, store, "second replica takes over after SIGKILL", sha, v));
    apps.push(b);
  }, 400_000);

  it("/unlock mid-deploy: the deploy stops before its next change; a newer deploy waits for the host and lands", async () => {
    const app = apps.at(-1) as AppProcess;
    // Healthy only 40 s after it starts: the unlock lands while the deploy waits for it.
    const first = await push(app, 40);
    await waitFor("the switch on h1", async () =>
      (await currentOn(w, "h1")) === `releases/${first.sha}` ? true : undefined,
    );
    w.openPullRequest(99, first.sha);
    const unlockedAt = Date.now();
    expect(await app.deliver("issue_comment", w.commentPayload(99, "/unlock slow", 7001), "unlock-1")).toBe(
      200,
    );
    const { sha, version: v } = await push(app);
    await waitFor("the newer deploy", () => succeededOnGitHub(sha));
    const deployments = await store.listDeployments({ repo: REPO, limit: 100 });
    const cut = deployments.filter((d) => d.commit === first.sha && d.host === "h1");
    // Ended by the unlock itself, saying who: not "interrupted" by the next deployer.
    expect(cut.map((d) => [d.status, d.error])).toEqual([
      ["failed", "lost the lock deploy:acme/faults:slow:h1: unlocked by @octocat with /unlock"],
    ]);
    // Nothing of the first deploy changed h1 after the unlock but its own lock's release, and the
    // newer deploy's first change on h1 came after the first deploy's last command there.
    const after = await store.getDeployment(cut[0]?.id as number);
    const later = (after?.logs ?? []).filter((l) => l.createdAt.getTime() > unlockedAt + 15_000);
    expect(
      later.map((l) => l.command).filter((c) => !c.includes("rm -rf -- ") || !c.endsWith("/.lock")),
    ).toEqual([]);
    const newer = deployments.find((d) => d.commit === sha && d.host === "h1" && d.status === "succeeded");
    const newerLogs = (await store.getDeployment(newer?.id as number))?.logs ?? [];
    const upload = newerLogs.find((l) => l.command.includes("s=$1 r=$2"));
    const lastOfFirst = (after?.logs ?? []).at(-1);
    expect(upload && lastOfFirst && upload.createdAt >= lastOfFirst.createdAt).toBe(true);
    rows.push(await checkRow(w, store, "/unlock mid-deploy, then a newer deploy", sha, v));
  }, 400_000);

  it("PostgreSQL restarted mid-deploy: the deploy goes on and is recorded", async () => {
    const app = apps.at(-1) as AppProcess;
    const { sha, version: v } = await push(app);
    await waitFor("the switch on h1", async () =>
      (await currentOn(w, "h1")) === `releases/${sha}` ? true : undefined,
    );
    await pg.restart();
    await waitFor("the deploy", () => succeededOnGitHub(sha));
    rows.push(await checkRow(w, store, "PostgreSQL restarted mid-deploy", sha, v));
  }, 400_000);

  it("a host killed mid-deploy fails with the reason, the other deploys; a later push converges", async () => {
    const app = apps.at(-1) as AppProcess;
    const broken = await push(app);
    await waitFor("the switch on h1", async () =>
      (await currentOn(w, "h1")) === `releases/${broken.sha}` ? true : undefined,
    );
    await w.h.stopHost("h2", "ssh");
    const failed = await waitFor("the rollout's end", () =>
      w.github.deployments.find(
        (d) => d.body.ref === broken.sha && ["failure", "success"].includes(String(d.statuses.at(-1)?.state)),
      ),
    );
    await w.h.startHost("h2");
    const h2 = (await store.listDeployments({ repo: REPO, host: "h2", limit: 1 }))[0];
    if (failed.statuses.at(-1)?.state === "failure")
      expect(h2).toMatchObject({ commit: broken.sha, status: "failed" });
    const { sha, version: v } = await push(app);
    await waitFor("the converging deploy", () => succeededOnGitHub(sha));
    rows.push(await checkRow(w, store, "a host killed mid-deploy, then a later push", sha, v));
  }, 400_000);

  it("two pull requests racing for one target: one at a time, the store matches what runs", async () => {
    const app = apps.at(-1) as AppProcess;
    const a = w.commitSlow("race-a", "pr-a");
    const b = w.commitSlow("race-b", "pr-b");
    w.openPullRequest(101, a);
    w.openPullRequest(102, b);
    const [sa, sb] = await Promise.all([
      app.deliver("issue_comment", w.commentPayload(101, "/deploy", 7101), "race-a"),
      app.deliver("issue_comment", w.commentPayload(102, "/deploy", 7102), "race-b"),
    ]);
    expect([sa, sb]).toEqual([200, 200]);
    await waitFor("both deploys to end", () => {
      const ended = (sha: string) =>
        w.github.deployments.some(
          (d) => d.body.ref === sha && ["success", "failure"].includes(String(d.statuses.at(-1)?.state)),
        );
      return ended(a) && ended(b) ? true : undefined;
    });
    const winner = (await store.getDeployed(REPO)).find((d) => d.stack === "slow" && d.host === "h1")?.commit;
    expect([a, b]).toContain(winner);
    rows.push(
      await checkRow(
        w,
        store,
        "two PRs racing for one target",
        winner as string,
        winner === a ? "race-a" : "race-b",
      ),
    );
  }, 400_000);
});
