// The two self-authorization attacks of the trust issue, end to end through Probot: a branch whose
// own .github/stackpilot.yml grants itself production, pushed and commented on. The rules come from
// the default branch, so neither deploys, no host is contacted, and the refusal cites main's rule.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { pullRequestFixture } from "../helpers/prFixture.ts";
import { recordedApi } from "../helpers/recordedApi.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { aboutRepo, examplePayload, prCommentPayload } from "../helpers/webhooks.ts";

const API = "https://api.github.com";
const FULL = "acme/infra";
const R = `/repos/${FULL}`;
const { requests, api } = recordedApi(API);

let tmp: string;
let gitServer: GitHttpServer;
let store: Store;
let probot: Probot;
let jobs: Promise<void>[];
let remoteCalls: number;
let main: string;
let evil: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-policy-"));
  const remote = join(tmp, "remote");
  const git = pullRequestFixture(remote);
  main = git("rev-parse", "main");
  // The attacker's branch: its own config gives production to itself, with no review and read
  // permission, and it changes a stack so that there is something to deploy.
  git("checkout", "-q", "-b", "evil", "main");
  const cfg = join(remote, ".github/stackpilot.yml");
  const text = readFileSync(cfg, "utf8");
  const granted = text.replace(
    "    deploy_on: merge\n    requires: [approved]\n    permission: write",
    "    deploy_on: merge\n    branch: evil\n    requires: []\n    permission: read",
  );
  expect(granted).not.toBe(text);
  writeFileSync(cfg, granted);
  writeFileSync(join(remote, "stacks/authelia/config/configuration.yml"), "theme: dark\n");
  git("commit", "-q", "-am", "production is mine");
  evil = git("rev-parse", "HEAD");
  git("update-ref", "refs/pull/9/head", evil);
  gitServer = await startGitHttpServer({ token: "ghs_test" });
  git("push", "-q", "--mirror", gitServer.createRepo(FULL).bareDir);
  store = await openStore({ dataDir: join(tmp, "data") });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await gitServer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  nock.disableNetConnect();
  jobs = [];
  requests.length = 0;
  remoteCalls = 0;
  probot = await loadTestApp({
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
    deps: {
      store,
      mirrors: new MirrorCache({
        dir: join(tmp, "mirrors"),
        maxBytes: 1 << 30,
        allowedOrigin: gitServer.url,
      }),
      hosts: [
        HostSchema.parse({ name: "app1", address: "10.0.0.1", labels: { role: "app" }, builder: true }),
      ],
      remote: {
        exec: () => {
          remoteCalls++;
          return Promise.reject(new Error("no host may be contacted in this test"));
        },
      },
      cache: new ParseCache(),
      appSlug: "stackpilot",
      installationId: "test",
    },
    onJob: (run) => jobs.push(run),
  });
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

const repo = () => ({ fullName: FULL, cloneUrl: gitServer.cloneUrl(FULL) });
const tokenScope = () =>
  api()
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_test", expires_at: "2099-01-01T00:00:00Z", permissions: {} });

async function nothingDeployed(): Promise<void> {
  expect(remoteCalls).toBe(0);
  expect(await store.listDeployments({ repo: FULL, limit: 10 })).toEqual([]);
  expect(requests.filter((r) => r.path.includes("/deployments"))).toEqual([]);
}

describe("rules come from the default branch, not from the change", () => {
  it("a branch granting itself production in its own config: its push deploys nothing, and its plan says its rules apply after merge", async () => {
    tokenScope().post(`${R}/check-runs`).reply(201, { id: 1 });
    const payload = aboutRepo(examplePayload("push"), repo());
    Object.assign(payload, {
      ref: "refs/heads/evil",
      before: main,
      after: evil,
      deleted: false,
      forced: false,
    });
    await probot.receive({ id: "push-evil", name: "push", payload } as never);
    await Promise.all(jobs);

    await nothingDeployed();
    const [check] = requests.filter((r) => r.method === "POST" && r.path === `${R}/check-runs`);
    const output = JSON.stringify(check?.body);
    expect(output).toContain("rules for production changed in this change: they apply after merge");
    expect(output).toContain(`main at ${main.slice(0, 7)}`);
  });

  it("a PR lowering production's permission and approvals in its own config: /deploy by a writer is refused, citing main's rule", async () => {
    const commentId = 4242;
    const payload = prCommentPayload({
      repo: repo(),
      api: API,
      pr: 9,
      commentId,
      body: "/deploy",
      user: { login: "octocat", type: "User" },
    });
    tokenScope()
      .post(`${R}/issues/comments/${commentId}/reactions`)
      .times(2)
      .reply(201, { id: 1 })
      .get(`${R}/pulls/9`)
      .reply(200, {
        number: 9,
        user: { login: "octocat" },
        head: { sha: evil, ref: "evil", repo: { full_name: FULL } },
        base: { ref: "main", repo: { full_name: FULL } },
      })
      .get(`${R}/collaborators/octocat/permission`)
      .reply(200, { permission: "write", role_name: "write", user: { login: "octocat" } })
      .get(`${R}/pulls/9/reviews`)
      .query(true)
      .reply(200, [])
      .get(`${R}/commits/${evil}/check-runs`)
      .query(true)
      .reply(200, {
        total_count: 1,
        check_runs: [
          { id: 1, name: "stackpilot/plan", head_sha: evil, status: "completed", conclusion: "success" },
        ],
      })
      .post(`${R}/issues/9/comments`)
      .reply(201, { id: 7 });
    await probot.receive({ id: "comment-evil", name: "issue_comment", payload } as never);
    await Promise.all(jobs);

    await nothingDeployed();
    const reply = String(requests.find((r) => r.path === `${R}/issues/9/comments`)?.body?.body);
    expect(reply).toContain("**production**: refused");
    expect(reply).toContain("production needs an approved pull request: it has no approval yet.");
    expect(reply).toContain(`(rules of main at ${main.slice(0, 7)})`);
  });
});
