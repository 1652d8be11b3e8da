// Procedures from the CLI, from PR comments and from a push, on 2 real hosts: the App's services in
// this process on a real Postgres (DATABASE_URL, which the CLI shares, as the README says to queue
// while the App runs), a simulated GitHub Enterprise on the git server's origin, the CLI called
// in-process (its own store, pg-boss and SSH pool, as a separate process would have them).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Services } from "../../src/github/server.ts";
import { RUN_ENDED, type Run } from "../../src/state/procedureRuns.ts";
import { type AppInProcess, startAppInProcess } from "../helpers/appInProcess.ts";
import { runCli } from "../helpers/cli.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fakeGitHub.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { type PostgresServer, startPostgres } from "../helpers/postgresServer.ts";
import { aboutRepo, examplePayload, prCommentPayload, sign } from "../helpers/webhooks.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness, type TestHost } from "./harness/harness.ts";

const REPO = "acme/shop";
const SECRET = "shop-trigger-secret";
const PR = 7;

const CONFIG = `version: 1
defaults:
  environment: production
environments:
  production:
    hosts: ["h*"]
    deploy_on: command
stacks:
  - { name: web, hosts: ["*"] }
  - { name: api, hosts: ["*"] }
procedures:
  ship:
    stages:
      - name: all
        steps:
          - deploy: { stacks: ["*"] }
  on-push:
    on: push
    stages:
      - name: mark
        steps:
          - hook: { run: 'echo pushed >> "$HOME/on-push-marks"', hosts: ["h1"] }
`;

let h: Harness;
let pg: PostgresServer;
let tmp: string;
let git: GitHttpServer;
let github: FakeGitHub;
let repo: RemoteRepo;
let app: AppInProcess;
let services: Services;
let hostsFile: string;
let checkout: string;
let last: string;
let version = 0;
const savedDatabaseUrl = process.env.DATABASE_URL;

const files = (level: number) => ({
  "stacks/web/compose.yaml": sleeperCompose("web", [
    `image: ${h.image}`,
    "environment: { LEVEL: 'w" + level + "' }",
  ]),
  "stacks/api/compose.yaml": sleeperCompose("api", [
    `image: ${h.image}`,
    "environment: { LEVEL: 'a" + level + "' }",
  ]),
});

beforeAll(async () => {
  h = await startHarness({ hosts: 2 });
  pg = await startPostgres();
  const databaseUrl = await pg.createDatabase();
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-procedures-cli-"));
  github = fakeGitHub();
  git = await startGitHttpServer({ token: github.token, api: github.handle });
  repo = git.createRepo(REPO);
  last = repo.commit({ ".github/stackpilot.yml": CONFIG, ...files(0) }, "init");
  github.setRepository(REPO, { cloneUrl: git.cloneUrl(REPO), bareDir: repo.bareDir });
  hostsFile = join(tmp, "hosts.yml");
  writeFileSync(
    hostsFile,
    JSON.stringify({
      hosts: h.hosts.map((t) => hostEntry(t)),
      triggers: [
        { name: "changed", repository: REPO, branch: "main", secret: { env: "SHOP_TRIGGER_SECRET" } },
      ],
    }),
  );
  process.env.SHOP_TRIGGER_SECRET = SECRET;
  // The CLI's checkout: its origin names the repository as the App sees it, so they share state.
  checkout = join(tmp, "checkout");
  execFileSync("git", ["clone", "-q", repo.bareDir, checkout]);
  execFileSync("git", ["-C", checkout, "remote", "set-url", "origin", `https://github.example/${REPO}.git`]);
  process.env.DATABASE_URL = databaseUrl;
  app = await startAppInProcess({
    git,
    dataDir: join(tmp, "data"),
    hostsFile,
    env: { DATABASE_URL: databaseUrl },
  });
  services = app.services;
}, 300_000);

afterAll(async () => {
  if (savedDatabaseUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = savedDatabaseUrl;
  await app?.close();
  await git?.close();
  await pg?.stop();
  await h?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const cli = (...argv: string[]) => runCli(...argv, "--repo", checkout, "--data", join(tmp, "cli"));
const cliHosts = (...argv: string[]) => cli(...argv, "--hosts", hostsFile);

/** Compose projects running on a host, sorted. */
const running = async (host: string) =>
  (await h.docker(host, ["ps", "--format", '{{.Label "com.docker.compose.project"}}'])).stdout
    .split("\n")
    .filter(Boolean)
    .sort();

const runs = () => services.store.procedures.listRuns({ repo: REPO, limit: 1000 });
const deployments = () => services.store.listDeployments({ repo: REPO, limit: 1000 });

/** The run's end, as stored (at most 2 minutes). */
async function ended(id: number): Promise<Run> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    const run = await services.store.procedures.getRun(id);
    if (run && RUN_ENDED.has(run.status)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${id} did not end within 2 minutes`);
}

/** A new commit on main changing both stacks; the range. */
function changeStacks(): { before: string; after: string } {
  const before = last;
  last = repo.commit(files(++version), `stacks ${version}`);
  return { before, after: last };
}

let commentId = 5000;
/** A comment on the PR by `login`; the App's reply to it (the newest comment after it). */
async function comment(
  login: string,
  body: string,
): Promise<{ status: number; reply: string; reactions: string[] }> {
  const id = ++commentId;
  const seen = new Set(github.comments.keys());
  const payload = prCommentPayload({
    repo: { fullName: REPO, cloneUrl: git.cloneUrl(REPO) },
    api: `${git.url}/api/v3`,
    pr: PR,
    commentId: id,
    body,
    user: { login, type: "User" },
  });
  const status = await app.deliver("issue_comment", payload, `comment-${id}`);
  const reactions = () =>
    github.requests
      .filter((r) => r.method === "POST" && r.path.endsWith(`/issues/comments/${id}/reactions`))
      .map((r) => String((r.body as { content?: string })?.content));
  // The reply comes from the queued job: wait for the second reaction (🚀 or 😕).
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && reactions().length < 2; )
    await new Promise((r) => setTimeout(r, 100));
  const reply = [...github.comments.values()].filter((c) => !seen.has(c.id)).at(-1);
  return { status, reply: String(reply?.body ?? ""), reactions: reactions() };
}

describe("stackpilot run, runs, stop and start", () => {
  it("run --dry-run prints each stage's (stack, host, action) and touches no host", async () => {
    const r = await cliHosts("run", "ship", "--dry-run");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("nothing was run");
    const rows = r.out.split("\n").map((line) => line.split(/\s*\|\s*|\s{2,}/).filter(Boolean));
    for (const stack of ["web", "api"])
      for (const host of ["h1", "h2"])
        expect(
          rows.some(
            (cells) =>
              cells[0] === "all" && cells.includes(stack) && cells.includes(host) && cells.includes("deploy"),
          ),
          `${stack}@${host} in\n${r.out}`,
        ).toBe(true);
    expect(await deployments()).toEqual([]);
    expect(await running("h1")).toEqual([]);
    expect(await runs()).toEqual([]);
  });

  it("run NAME of an unknown procedure exits 1 naming the defined ones, queuing nothing", async () => {
    const r = await cli("run", "nope");
    expect(r.code).toBe(1);
    expect(r.err).toContain('no procedure "nope"');
    expect(r.err).toContain("ship, on-push");
    expect(await runs()).toEqual([]);
  });

  it("run --wait queues a run the App runs, prints its steps and exits 0 when it succeeded", async () => {
    const r = await cli("run", "ship", "--wait");
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toMatch(/run #[0-9]+ of ship queued for acme\/shop/);
    expect(r.out).toMatch(/run #[0-9]+: succeeded/);
    const [run] = await runs();
    expect(run).toMatchObject({ procedure: "ship", source: "cli", status: "succeeded" });
    expect((await deployments()).map((d) => `${d.stack}@${d.host}:${d.status}`).sort()).toEqual([
      "api@h1:succeeded",
      "api@h2:succeeded",
      "web@h1:succeeded",
      "web@h2:succeeded",
    ]);
    expect(await running("h1")).toEqual(["api", "web"]);
  });

  it("runs lists the repository's runs; runs ID shows each stage and step; an unknown ID exits 1", async () => {
    const [run] = await runs();
    const list = await cli("runs");
    expect(list.code, list.err).toBe(0);
    expect(list.out).toContain(String(run?.id));
    expect(list.out).toContain("ship");
    const one = await cli("runs", String(run?.id));
    expect(one.code, one.err).toBe(0);
    expect(one.out).toMatch(/all/);
    expect(one.out).toMatch(/deploy/);
    expect(one.out).toMatch(/succeeded/);
    const json = await cli("runs", String(run?.id), "--json");
    expect(JSON.parse(json.out)).toMatchObject({ id: run?.id, status: "succeeded" });
    expect((await cli("runs", "999999")).code).toBe(1);
  });

  it("stop --host records the stop; a batch deploy-if-changed leaves it stopped; start undoes it", async () => {
    const stop = await cliHosts("stop", "web", "--host", "h1");
    expect(stop.code, stop.err).toBe(0);
    expect(await running("h1")).toEqual(["api"]);
    expect((await services.store.listStopped(REPO)).map((s) => `${s.stack}@${s.host}`)).toEqual(["web@h1"]);

    const { before, after } = changeStacks();
    const body = JSON.stringify({ ref: "refs/heads/main", before, after, repository: { full_name: REPO } });
    const res = await fetch(`http://127.0.0.1:${app.server.port}/triggers/changed?wait=true`, {
      method: "POST",
      headers: { "x-hub-signature-256": sign(body, SECRET), "x-github-delivery": "changed-1" },
      body,
    });
    const answer = (await res.json()) as { result?: { status: string } };
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer.result?.status).toBe("succeeded");
    expect(JSON.stringify(answer.result)).toContain("stopped on purpose");
    const made = (await deployments()).filter((d) => d.commit === after);
    expect(made.map((d) => `${d.stack}@${d.host}`).sort()).toEqual(["api@h1", "api@h2", "web@h2"]);
    expect(await running("h1")).toEqual(["api"]);

    const start = await cliHosts("start", "web", "--host", "h1");
    expect(start.code, start.err).toBe(0);
    expect(await running("h1")).toEqual(["api", "web"]);
    expect(await services.store.listStopped(REPO)).toEqual([]);
  });
});

describe("PR comments /run, /stop and /start", () => {
  beforeAll(() => {
    repo.push(`+${last}:refs/pull/${PR}/head`);
    github.setPullRequest(REPO, { number: PR, headSha: last, headRef: "feature" });
    github.setPermission(REPO, "rita", "read");
    github.setPermission(REPO, "wendy", "write");
    github.checkRuns.push({
      id: 990_001,
      repo: REPO,
      bodies: [],
      state: { name: "stackpilot/plan", head_sha: last, status: "completed", conclusion: "success" },
    });
  });

  it("/run by a reader is refused and queues nothing; by a writer it runs at the PR's head", async () => {
    const before = (await runs()).length;
    const refused = await comment("rita", "/run ship");
    expect(refused.status).toBe(200);
    expect(refused.reactions).toEqual(["eyes", "confused"]);
    expect(refused.reply).toContain("refused");
    expect(await runs()).toHaveLength(before);

    const ok = await comment("wendy", "/run ship");
    expect(ok.reactions).toEqual(["eyes", "rocket"]);
    expect(ok.reply).toMatch(/Run #[0-9]+ of `ship`/);
    const id = Number(/Run #([0-9]+)/.exec(ok.reply)?.[1]);
    const run = await ended(id);
    expect(run).toMatchObject({ procedure: "ship", source: "command", actor: "wendy", status: "succeeded" });
    expect(run.head).toBe(last);
  });

  it("/stop by a reader is refused; by a writer the stack stops and the stop is recorded; /start undoes it", async () => {
    const refused = await comment("rita", "/stop api");
    expect(refused.reactions).toEqual(["eyes", "confused"]);
    expect(await running("h2")).toEqual(["api", "web"]);
    expect(await services.store.listStopped(REPO)).toEqual([]);

    const stopped = await comment("wendy", "/stop api --host h2");
    expect(stopped.reactions, stopped.reply).toEqual(["eyes", "rocket"]);
    expect(await running("h2")).toEqual(["web"]);
    expect(await running("h1")).toEqual(["api", "web"]);
    expect(await services.store.listStopped(REPO)).toMatchObject([
      { stack: "api", host: "h2", actor: "wendy" },
    ]);

    const started = await comment("wendy", "/start api --host h2");
    expect(started.reactions, started.reply).toEqual(["eyes", "rocket"]);
    expect(await running("h2")).toEqual(["api", "web"]);
    expect(await services.store.listStopped(REPO)).toEqual([]);
    // Stackpilot's earlier replies on the PR are collapsed as outdated; the newest stays open.
    const replies = [...github.comments.values()].filter((c) => c.body.includes("<!-- stackpilot:reply -->"));
    expect(replies.length).toBeGreaterThan(2);
    expect(replies.slice(0, -1).filter((c) => !c.minimized)).toEqual([]);
    expect(replies.at(-1)?.minimized).not.toBe(true);
  });
});

describe("on: push", () => {
  const push = (branch: string, before: string, after: string, delivery: string) => {
    const payload = aboutRepo(examplePayload("push"), { fullName: REPO, cloneUrl: git.cloneUrl(REPO) });
    Object.assign(payload, { ref: `refs/heads/${branch}`, before, after, deleted: false, created: false });
    return app.deliver("push", payload, delivery);
  };

  it("a push to the default branch runs the procedures that say on: push; a push to another branch runs none", async () => {
    const other = repo.commit({ "docs/notes.md": "notes\n" }, "docs on a branch", "topic");
    expect(await push("topic", "0".repeat(40), other, "push-topic")).toBe(200);
    const { before, after } = { before: last, after: other };
    // `other` is on main's line too (the work repo commits on its current branch): push main to it.
    repo.push(`+${after}:refs/heads/main`);
    last = after;
    expect(await push("main", before, after, "push-main")).toBe(200);
    let pushed: Run | undefined;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline && !pushed; ) {
      pushed = (await runs()).find((r) => r.source === "push");
      if (!pushed) await new Promise((r) => setTimeout(r, 200));
    }
    expect(pushed, "no run started by the push").toBeDefined();
    const run = await ended(pushed?.id as number);
    expect(run).toMatchObject({ procedure: "on-push", branch: "main", head: after, status: "succeeded" });
    expect((await runs()).filter((r) => r.source === "push")).toHaveLength(1);
    expect(readFileSync(join((h.hosts[0] as TestHost).home, "on-push-marks"), "utf8").trim()).toBe("pushed");
  });
});
