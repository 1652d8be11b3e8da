// Triggers and procedures end to end: one trigger endpoint, a repository of 6 stacks over 3 real
// hosts, the App's services in this process (real pg-boss on PGlite, the planner thread, SSH) with
// a simulated GitHub Enterprise on the git server's origin. Pushes are signed POSTs to
// /triggers/NAME?wait=true, whose answers carry the runs' results.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostConfig, parseHostsFile } from "../../src/config/hostsFile.ts";
import { SshPool } from "../../src/deploy/ssh/pool.ts";
import { stopStack } from "../../src/deploy/stackPower.ts";
import type { Services } from "../../src/github/server.ts";
import type { RunView } from "../../src/procedures/view.ts";
import { type AppInProcess, startAppInProcess } from "../helpers/appInProcess.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fakeGitHub.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { sign } from "../helpers/webhooks.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness } from "./harness/harness.ts";

const REPO = "acme/fleet";
const SECRET = "fleet-trigger-secret";
const STACKS = ["db-main", "db-cache", "web", "api", "worker", "cron"];
/** db-cache, web and api read the shared env file; the others do not. */
const SHARED_USERS = new Set(["db-cache", "web", "api"]);

const CONFIG = `version: 1
defaults:
  environment: production
environments:
  production:
    hosts: ["h*"]
    deploy_on: command
stacks:
  - { name: db-main, hosts: [{ role: db }] }
  - { name: db-cache, hosts: [{ role: db }] }
  - { name: web, hosts: [{ role: app }] }
  - { name: api, hosts: [{ role: app }] }
  - { name: worker, hosts: [{ role: app }] }
  - { name: cron, hosts: [{ role: app }] }
procedures:
  rollout:
    stages:
      - name: databases
        steps:
          - deploy: { stacks: ["db-*"] }
      - name: apps
        steps:
          - deploy: { stacks: ["*"], exclude: ["db-*"], hosts: [{ role: app }] }
          - name: "smoke; touch /tmp/pwned $(id)"
            hook: { run: ["true"], hosts: ["h2"] }
  failing:
    stages:
      - name: checks
        steps:
          - name: tolerated
            hook: { run: "exit 3", hosts: ["h1"] }
            continue_on_error: true
          - name: broken
            hook: { run: ["false"], hosts: ["h1"] }
      - name: deploy
        steps:
          - deploy: { stacks: ["*"], force: true }
      - name: report
        if: failure
        steps:
          - hook: { run: ["true"], hosts: ["h1"] }
`;

let h: Harness;
let tmp: string;
let git: GitHttpServer;
let github: FakeGitHub;
let repo: RemoteRepo;
let app: AppInProcess | undefined;
let services: Services;
let server: AppInProcess["server"];
let pool: SshPool;
let hostsConfig: ReturnType<typeof hostEntry>[];
let last: string;
let version = 0;

const stackFiles = (image: string) =>
  Object.fromEntries(
    STACKS.map((s) => [
      `stacks/${s}/compose.yaml`,
      sleeperCompose("app", [
        `image: ${image}`,
        ...(SHARED_USERS.has(s) ? ["env_file: ../../shared/common.env"] : []),
      ]),
    ]),
  );

beforeAll(async () => {
  h = await startHarness({ hosts: 3 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-procedures-"));
  github = fakeGitHub();
  git = await startGitHttpServer({ token: github.token, api: github.handle });
  repo = git.createRepo(REPO);
  last = repo.commit(
    { ".github/stackpilot.yml": CONFIG, "shared/common.env": "LEVEL=0\n", ...stackFiles(h.image) },
    "init",
  );
  github.setRepository(REPO, { cloneUrl: git.cloneUrl(REPO) });
  const roles = ["db", "app", "app"];
  hostsConfig = h.hosts.map((t, i) => hostEntry(t, { labels: { role: roles[i] } }));
  const hostsFile = join(tmp, "hosts.yml");
  const trigger = (name: string, extra: Record<string, unknown>) => ({
    name,
    repository: REPO,
    branch: "main",
    secret: { env: "FLEET_TRIGGER_SECRET" },
    ...extra,
  });
  writeFileSync(
    hostsFile,
    JSON.stringify({
      hosts: hostsConfig,
      triggers: [
        trigger("everything", {}),
        trigger("fleet", { procedure: "rollout", hosts: ["h1", "h2"] }),
        trigger("failing", { procedure: "failing" }),
        trigger("docs", { procedure: "rollout", paths: ["docs/**"] }),
      ],
    }),
  );
  process.env.FLEET_TRIGGER_SECRET = SECRET;
  app = await startAppInProcess({ git, dataDir: join(tmp, "data"), hostsFile });
  ({ services, server } = app);
  pool = new SshPool(parseHostsFile(JSON.stringify({ hosts: hostsConfig }), "h").hosts, {
    dataDir: join(tmp, "cli"),
  });
}, 300_000);

afterAll(async () => {
  await pool?.close();
  await app?.close();
  await git?.close();
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A signed POST of a push of `before..after` to a trigger, waiting for the run's end. */
async function trigger(name: string, before: string, after: string, delivery: string) {
  const body = JSON.stringify({ ref: "refs/heads/main", before, after, repository: { full_name: REPO } });
  const res = await fetch(`http://127.0.0.1:${server.port}/triggers/${name}?wait=true`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-hub-signature-256": sign(body, SECRET),
      "x-github-delivery": delivery,
    },
    body,
  });
  const json = (await res.json()) as { id: number; result?: RunView; ignored?: string };
  return { status: res.status, ...json };
}

/** A new commit changing the shared env file; its id. */
function touchShared(): { before: string; after: string } {
  const before = last;
  last = repo.commit({ "shared/common.env": `LEVEL=${++version}\n` }, `shared ${version}`);
  return { before, after: last };
}

async function deploymentsAfter(id: number) {
  return (await services.store.listDeployments({ repo: REPO, limit: 1000 })).filter((d) => d.id > id);
}

const running = async (host: string) =>
  (await h.docker(host, ["ps", "--format", '{{.Label "com.docker.compose.project"}}'])).stdout
    .split("\n")
    .filter(Boolean)
    .sort();

/**
 * The procedure's latest check run once completed: the run's end is stored (and answered to
 * ?wait=true) before its check run's last update reaches GitHub. Its last state after 60 s.
 */
async function completedCheckRun(procedure: string) {
  const latest = () =>
    github.checkRuns.findLast((c) => c.state.name === `stackpilot/procedure: ${procedure}`);
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (latest()?.state.status === "completed") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return latest();
}

const stepOf = (view: RunView | undefined, stage: number, step: number) => view?.stages[stage]?.steps[step];

describe("triggers and procedures on real hosts", () => {
  it("deploys what changed, every stack to its hosts, from a trigger without a procedure", async () => {
    const r = await trigger("everything", "0".repeat(40), last, "all-1");
    expect(r.status, JSON.stringify(r)).toBe(200);
    expect(r.result?.status, JSON.stringify(r.result)).toBe("succeeded");
    const deployed = await services.store.getDeployed(REPO);
    expect(deployed.map((d) => `${d.stack}@${d.host}`).sort()).toEqual(
      [
        "db-main@h1",
        "db-cache@h1",
        ...["web", "api", "worker", "cron"].flatMap((s) => [`${s}@h2`, `${s}@h3`]),
      ].sort(),
    );
  });

  it("a push touching the shared env file: databases first, then the apps, only the changed stacks, only on the allowed hosts", async () => {
    const mark = Math.max(
      0,
      ...(await services.store.listDeployments({ repo: REPO, limit: 1 })).map((d) => d.id),
    );
    const { before, after } = touchShared();
    const r = await trigger("fleet", before, after, "fleet-1");
    expect(r.status).toBe(200);
    const view = r.result as RunView;
    expect(view.status, JSON.stringify(view, null, 1)).toBe("succeeded");
    expect(view.stages.map((s) => [s.name, s.status])).toEqual([
      ["databases", "succeeded"],
      ["apps", "succeeded"],
    ]);
    const made = await deploymentsAfter(mark);
    expect(made.map((d) => `${d.stack}@${d.host}:${d.status}`).sort()).toEqual([
      "api@h2:succeeded",
      "db-cache@h1:succeeded",
      "web@h2:succeeded",
    ]);
    // The databases finished before any app started.
    const dbDone = made.find((d) => d.stack === "db-cache")?.finishedAt?.getTime() ?? Number.NaN;
    for (const app of made.filter((d) => d.stack !== "db-cache"))
      expect(app.startedAt?.getTime()).toBeGreaterThanOrEqual(dbDone);
    // h3 is outside the trigger's hosts: it still runs the older release of web and api.
    const web3 = (await services.store.getDeployed(REPO)).find((d) => d.stack === "web" && d.host === "h3");
    expect(web3?.commit).not.toBe(after);
    // The step named with shell metacharacters ran its argv; its name reached no shell.
    expect(stepOf(view, 1, 1)).toMatchObject({ name: "smoke; touch /tmp/pwned $(id)", status: "succeeded" });
    expect((await h.exec("h2", ["sh", "-c", "ls /tmp/pwned* 2>/dev/null | wc -l"])).stdout.trim()).toBe("0");
    // GitHub: the procedure's check run, and the deploys as GitHub Deployments.
    const check = await completedCheckRun("rollout");
    expect(check?.state).toMatchObject({ status: "completed", conclusion: "success", head_sha: after });
    expect(JSON.stringify(check?.state.output)).toContain("smoke; touch /tmp/pwned $(id)");
    expect(github.deployments.filter((d) => d.body.ref === after).length).toBeGreaterThanOrEqual(2);
  });

  it("a stack stopped on purpose stays stopped when the next push would deploy it", async () => {
    const stopped = await stopStack({
      store: services.store,
      remote: pool,
      host: parseHostsFile(JSON.stringify({ hosts: hostsConfig }), "h").hosts[1] as HostConfig,
      repo: REPO,
      stack: "api",
      actor: "alice",
    });
    expect(stopped).toMatchObject({ ok: true });
    expect(await running("h2")).not.toContain("api");
    const mark = Math.max(
      ...(await services.store.listDeployments({ repo: REPO, limit: 1 })).map((d) => d.id),
    );
    const { before, after } = touchShared();
    const r = await trigger("fleet", before, after, "fleet-2");
    expect(r.result?.status).toBe("succeeded");
    const made = await deploymentsAfter(mark);
    expect(made.map((d) => `${d.stack}@${d.host}`).sort()).toEqual(["db-cache@h1", "web@h2"]);
    expect(JSON.stringify(stepOf(r.result, 1, 0)?.targets)).toContain("stopped on purpose by alice");
    expect(await running("h2")).not.toContain("api");
  });

  it("a failing stage stops the later ones; continue_on_error and if: failure behave as specified", async () => {
    const mark = Math.max(
      ...(await services.store.listDeployments({ repo: REPO, limit: 1 })).map((d) => d.id),
    );
    const r = await trigger("failing", last, last, "failing-1");
    const view = r.result as RunView;
    expect(view.status).toBe("failed");
    expect(stepOf(view, 0, 0)).toMatchObject({
      status: "failed",
      reason: expect.stringMatching(/^failed; continue_on_error/),
    });
    expect(stepOf(view, 0, 1)?.status).toBe("failed");
    expect(view.stages.map((s) => s.status)).toEqual(["failed", "skipped", "succeeded"]);
    expect(view.stages[1]?.reason).toBe("an earlier stage failed");
    expect(await deploymentsAfter(mark)).toEqual([]);
    const check = await completedCheckRun("failing");
    expect(check?.state).toMatchObject({ status: "completed", conclusion: "failure" });
  });

  it("a path filter that does not match runs nothing", async () => {
    const mark = Math.max(
      ...(await services.store.listDeployments({ repo: REPO, limit: 1 })).map((d) => d.id),
    );
    const { before, after } = touchShared();
    const r = await trigger("docs", before, after, "docs-1");
    expect(r.result).toMatchObject({
      status: "skipped",
      reason: expect.stringContaining("matches the trigger's paths (docs/**)"),
    });
    expect(await deploymentsAfter(mark)).toEqual([]);
  });

  it("a redelivered trigger does not run twice", async () => {
    const again = await trigger("docs", "0".repeat(40), last, "docs-1");
    const runs = await services.store.procedures.listRuns({ repo: REPO, limit: 100 });
    expect(runs.filter((x) => x.triggerName === "docs")).toHaveLength(1);
    expect(again.result?.status).toBe("skipped");
  });
});
