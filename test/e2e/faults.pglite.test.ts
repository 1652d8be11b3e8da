// Faults against the App with its embedded database (PGlite): SIGKILL right after a rollout
// starts and inside compose up / the health wait, a restart on the same data directory, and a
// webhook delivered three times. Each ends with no record lost, no duplicate deploy, and every
// host running what the state store says. The table is printed; README has a full run's.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/state/store.ts";
import { type AppProcess, startAppProcess } from "../helpers/appProcess.ts";
import {
  checkRow,
  type FaultRow,
  killInsideStep,
  printRows,
  startWorld,
  type World,
  waitFor,
} from "./faults/world.ts";

let w: World;
let app: AppProcess | undefined;
let dataDir: string;
let last: string;
let version = 0;
const rows: FaultRow[] = [];

beforeAll(async () => {
  w = await startWorld();
  dataDir = join(w.tmp, "data");
  app = await startAppProcess(w.appEnv({ STACKPILOT_DATA_DIR: dataDir }));
  last = w.repo.bareGit("rev-parse", "main");
}, 300_000);

afterAll(async () => {
  printRows(rows);
  await app?.stop();
  await w?.close();
});

/** A new version of the slow stack pushed to main and delivered; its commit. */
async function push(delivery = `push-${version + 1}`, times = 1): Promise<{ sha: string; version: string }> {
  const v = String(++version);
  const sha = w.commitSlow(v);
  const payload = w.pushPayload(last, sha);
  for (let i = 0; i < times; i++)
    expect(await (app as AppProcess).deliver("push", payload, delivery)).toBe(200);
  last = sha;
  return { sha, version: v };
}

/** The GitHub Deployment of `sha` whose last status is success. */
const succeededOnGitHub = (sha: string) =>
  w.github.deployments.find((d) => d.body.ref === sha && d.statuses.at(-1)?.state === "success");

/** Stop the App (gracefully), read the store, start it again. */
async function withStoreBetweenRuns(
  fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<void>,
): Promise<void> {
  await app?.stop();
  try {
    const store = await openStore({ dataDir });
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    app = await startAppProcess(w.appEnv({ STACKPILOT_DATA_DIR: dataDir }));
  }
}

describe("faults, embedded database", () => {
  it("a first deploy reaches every host (the baseline)", async () => {
    const { sha, version: v } = await push();
    await waitFor("the baseline deploy", () => succeededOnGitHub(sha));
    await withStoreBetweenRuns(async (store) => {
      await checkRow(w, store, "baseline", sha, v);
    });
  }, 300_000);

  it("SIGKILL inside compose up / the health wait: found within a minute of the restart, resumed, done within two", async () => {
    const { sha, version: v } = await push();
    await killInsideStep(w, app as AppProcess, sha);
    const restarted = Date.now();
    app = await startAppProcess(w.appEnv({ STACKPILOT_DATA_DIR: dataDir }));
    // The interrupted rollout's GitHub Deployment is finished by recovery, its job retried.
    const interrupted = await waitFor("the interrupted rollout shown on GitHub", () =>
      w.github.deployments.find((d) => d.body.ref === sha && d.statuses.at(-1)?.state === "error"),
    );
    const foundAfter = (interrupted.statuses.length ? Date.now() : 0) - restarted;
    await waitFor("the resumed rollout", () => succeededOnGitHub(sha));
    const doneAfter = Date.now() - restarted;
    expect(foundAfter).toBeLessThan(60_000);
    expect(doneAfter).toBeLessThan(120_000);
    await withStoreBetweenRuns(async (store) => {
      const row = await checkRow(w, store, "SIGKILL inside compose up / health wait (PGlite)", sha, v);
      row.detail += ` found after ${foundAfter} ms, done after ${doneAfter} ms`;
      rows.push(row);
      const cut = (await store.listDeployments({ repo: "acme/faults", limit: 50 })).filter(
        (d) => d.commit === sha && d.status === "interrupted",
      );
      expect(cut.length).toBeGreaterThanOrEqual(1);
    });
  }, 400_000);

  it("SIGKILL right after the rollout starts: resumed, done within two minutes of the restart", async () => {
    const { sha, version: v } = await push();
    await waitFor("the rollout's in_progress status", () =>
      w.github.deployments.find(
        (d) => d.body.ref === sha && d.statuses.some((s) => s.state === "in_progress"),
      ),
    );
    await (app as AppProcess).kill();
    const restarted = Date.now();
    app = await startAppProcess(w.appEnv({ STACKPILOT_DATA_DIR: dataDir }));
    await waitFor("the resumed rollout", () => succeededOnGitHub(sha));
    expect(Date.now() - restarted).toBeLessThan(120_000);
    await withStoreBetweenRuns(async (store) => {
      rows.push(await checkRow(w, store, "SIGKILL right after the rollout starts (PGlite)", sha, v));
    });
  }, 400_000);

  it("one push delivered three times (GitHub's redelivery) is deployed once", async () => {
    const before = w.github.deployments.length;
    const { sha, version: v } = await push("push-redelivered", 3);
    await waitFor("the deploy", () => succeededOnGitHub(sha));
    // Give a duplicate job time to show up, if there were one.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(w.github.deployments.length - before).toBe(1);
    await withStoreBetweenRuns(async (store) => {
      rows.push(await checkRow(w, store, "webhook delivered 3 times (PGlite)", sha, v));
    });
  }, 300_000);
});
