// A procedure run whose App is killed (SIGKILL) inside a stage (during compose up / the health wait
// of its first deploy) and between stages (during a sleep stage): after a restart on the same
// PGlite data directory the run completes, no step that ended is done again, and no deployment
// record is lost or duplicated (faults/world.ts's checks: every record ended, one successful
// deployment per host and commit, each host running what the store says).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunView } from "../../src/procedures/view.ts";
import { openStore } from "../../src/state/store.ts";
import { type AppProcess, startAppProcess } from "../helpers/appProcess.ts";
import { sign } from "../helpers/webhooks.ts";
import { checkRow, currentOn, REPO, startWorld, type World, waitFor } from "./faults/world.ts";

const SECRET = "staged-trigger-secret";
const CONFIG = `version: 1
defaults:
  environment: production
environments:
  production:
    hosts: ["h*"]
    deploy_on: command
procedures:
  staged:
    stages:
      - name: first
        steps:
          - deploy: { stacks: ["slow"], hosts: ["h1"] }
      - name: pause
        steps:
          - sleep: 20
      - name: second
        steps:
          - deploy: { stacks: ["slow"], hosts: ["h2"] }
`;

let w: World;
let app: AppProcess | undefined;
let dataDir: string;
let last: string;
let version = 0;

beforeAll(async () => {
  w = await startWorld();
  dataDir = join(w.tmp, "data");
  last = w.repo.commit({ ".github/stackpilot.yml": CONFIG }, "procedures");
  w.github.setRepository(REPO, { cloneUrl: w.git.cloneUrl(REPO) });
  writeFileSync(
    w.hostsFile,
    JSON.stringify({
      ...JSON.parse(readFileSync(w.hostsFile, "utf8")),
      triggers: [
        {
          name: "staged",
          repository: REPO,
          branch: "main",
          procedure: "staged",
          secret: { env: "STAGED_TRIGGER_SECRET" },
        },
      ],
    }),
  );
  app = await start();
}, 600_000);

// On a failure, the App's last words (its log) with the test's.
afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") console.log(`App output:\n${app?.output().slice(-8000)}`);
});

afterAll(async () => {
  await app?.stop();
  await w?.close();
});

const start = () =>
  startAppProcess(
    w.appEnv({
      STACKPILOT_DATA_DIR: dataDir,
      STAGED_TRIGGER_SECRET: SECRET,
      // Generous: on a loaded test machine a plan's 30 s budget is not what this test is about.
      STACKPILOT_PLAN_BUDGET_S: "180",
    }),
    300_000,
  );

/** A new version of the slow stack pushed and sent to the trigger (not waiting); the run's id. */
async function trigger(): Promise<{ id: number; sha: string; version: string }> {
  const v = String(++version);
  const before = last;
  const sha = w.commitSlow(v);
  last = sha;
  const body = JSON.stringify({
    ref: "refs/heads/main",
    before,
    after: sha,
    repository: { full_name: REPO },
  });
  const res = await fetch(`http://127.0.0.1:${(app as AppProcess).port}/triggers/staged`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": sign(body, SECRET),
      "x-github-delivery": `staged-${v}`,
    },
    body,
  });
  expect(res.status).toBe(202);
  return { id: ((await res.json()) as { id: number }).id, sha, version: v };
}

/** The run as GET /api/runs/ID shows it to the trigger's secret. */
async function view(id: number): Promise<RunView | undefined> {
  const res = await fetch(`http://127.0.0.1:${(app as AppProcess).port}/api/runs/${id}`, {
    headers: { authorization: `Bearer ${SECRET}` },
  }).catch(() => undefined);
  return res?.status === 200 ? ((await res.json()) as RunView) : undefined;
}

const ended = (id: number) => async () => {
  const v = await view(id);
  return v && ["succeeded", "failed", "cancelled", "skipped"].includes(v.status) ? v : undefined;
};

/** Stop the App, run the fault table's checks on its store, start it again. */
async function checkBetweenRuns(scenario: string, sha: string, v: string) {
  await app?.stop();
  try {
    const store = await openStore({ dataDir });
    try {
      await checkRow(w, store, scenario, sha, v);
    } finally {
      await store.close();
    }
  } finally {
    app = await start();
  }
}

describe("a procedure run survives the App's death", () => {
  it("a first run reaches both hosts stage by stage (the baseline)", async () => {
    const { id, sha, version: v } = await trigger();
    const done = await waitFor("the run's end", ended(id), 300_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    await checkBetweenRuns("procedure baseline", sha, v);
  }, 600_000);

  it("killed inside the first stage's deploy: resumed after the restart, the deploy finished once, the later stages run", async () => {
    const { id, sha, version: v } = await trigger();
    // Inside compose up / the health wait on h1 (the slow stack is healthy only seconds after it starts).
    await waitFor(
      "the switch to the new release on h1",
      async () => ((await currentOn(w, "h1")) === `releases/${sha}` ? true : undefined),
      420_000,
    );
    await (app as AppProcess).kill();
    app = await start();
    const done = await waitFor("the resumed run's end", ended(id), 300_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    expect(done.stages.map((s) => s.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    // The step that was cut is the one done again; the ones after it once.
    expect(done.stages[0]?.steps[0]?.attempts ?? 1).toBeGreaterThanOrEqual(2);
    expect(done.stages[2]?.steps[0]?.attempts ?? 1).toBe(1);
    await checkBetweenRuns("procedure: SIGKILL inside a stage", sha, v);
  }, 900_000);

  it("killed between stages (during the sleep): the first stage is not done again, the run completes", async () => {
    const { id, sha, version: v } = await trigger();
    await waitFor(
      "the sleep stage",
      async () => {
        const r = await view(id);
        return r?.stages[1]?.status === "running" ? r : undefined;
      },
      420_000,
    );
    const before = await view(id);
    expect(before?.stages[0]?.status).toBe("succeeded");
    await (app as AppProcess).kill();
    app = await start();
    const done = await waitFor("the resumed run's end", ended(id), 300_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    expect(done.stages[0]?.steps[0]?.attempts ?? 1).toBe(1);
    expect(done.stages[0]?.steps[0]?.finishedAt).toBe(before?.stages[0]?.steps[0]?.finishedAt);
    await checkBetweenRuns("procedure: SIGKILL between stages", sha, v);
  }, 900_000);
});
