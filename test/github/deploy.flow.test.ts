// `/deploy` and `/rollback` from a PR comment, end to end: real `issue_comment` payloads through
// Probot, GitHub simulated by nock (static replies; requests recorded with `scope.on("request")`),
// the fixture repository's mirror over smart HTTP, PGlite state, and deploys that really run on a
// host faked on this machine (fakeHost.ts). What is checked: the per (stack, host) results land in
// the PR's one Stackpilot comment, and GitHub's 5xx and secondary rate limits are retried with the
// deploy check run still ending in the right state.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Bottleneck from "bottleneck";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { DEFAULT_RETRY_POLICY, withRetryPolicy } from "../../src/github/api/octokit.ts";
import type { WorkerDeps } from "../../src/github/jobs/jobContext.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { pullRequestFixture } from "../helpers/prFixture.ts";
import { olderRepliesAnswer, recordedApi } from "../helpers/recordedApi.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { prCommentPayload } from "../helpers/webhooks.ts";
import { type FakeHost, fakeHost } from "./fakeHost.ts";

const API = "https://api.github.com";
const OWNER = "acme";
const NAME = "infra";
const FULL = `${OWNER}/${NAME}`;
const R = `/repos/${OWNER}/${NAME}`;
const MARKER = "<!-- stackpilot:plan -->";
const BOT = { login: "stackpilot[bot]", type: "Bot" };
const STICKY_ID = 900;
const STICKY_URL = `https://github.com/${FULL}/pull/1#issuecomment-${STICKY_ID}`;
const SECONDARY = {
  message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
  documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
};

let tmp: string;
let remote: string;
let gitServer: GitHttpServer;
let head1: string;
let head2: string;
let served: string;
let store: Store;
let host: FakeHost;
let probot: Probot;
let jobs: Promise<void>[];
const { requests, api, sent } = recordedApi(API);
let unmatched: string[];
let warnings: string[];
let seq = 0;
/** Set once the persisted check-run update answer is in place for this test. */
let updatesAnswered = false;

let git: (...args: string[]) => string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-deployflow-"));
  remote = join(tmp, "remote");
  // PR #1: the fixture's last commit; main one behind. Its later head (a second push) changes
  // authelia's config only, so a second deploy gives authelia a second release to roll back from.
  git = pullRequestFixture(remote);
  head1 = git("rev-parse", "HEAD");
  writeFileSync(join(remote, "stacks/authelia/config/configuration.yml"), "theme: dark\nlog_level: debug\n");
  git("commit", "-q", "-am", "authelia: debug logs");
  head2 = git("rev-parse", "HEAD");
  gitServer = await startGitHttpServer({ token: "ghs_test" });
  served = gitServer.createRepo(FULL).bareDir;
  git("push", "-q", "--mirror", served);
}, 120_000);

/** GitHub's `refs/pull/1/head` moves to `sha` (a push to the PR branch). */
function prHeadAt(sha: string): void {
  execFileSync("git", ["--git-dir", served, "update-ref", "refs/pull/1/head", sha]);
}

afterAll(async () => {
  await gitServer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function onNoMatch(req: { method?: string; url?: string; path?: string }) {
  unmatched.push(`${req.method} ${req.url ?? req.path}`);
}

/**
 * Probot with the app's retry policy (octokit.ts), waits shortened for the test: `retry-after`
 * seconds and plugin-retry's backoff count as milliseconds, and writes are not paced.
 */
function testOctokit() {
  const unpaced = () => new Bottleneck.Group({ maxConcurrent: 1, minTime: 0 });
  return ProbotOctokit.defaults((o: { throttle?: object; retry?: object }) =>
    withRetryPolicy(o, DEFAULT_RETRY_POLICY, {
      throttle: { retryAfterBaseValue: 1, write: unpaced(), notifications: unpaced() },
      retry: { retryAfterBaseValue: 1 },
    }),
  );
}

beforeEach(async () => {
  olderRepliesAnswer(api());
  nock.disableNetConnect();
  jobs = [];
  requests.length = 0;
  unmatched = [];
  warnings = [];
  updatesAnswered = false;
  nock.emitter.on("no match", onNoMatch);
  const dir = mkdtempSync(join(tmp, "run-"));
  store = await openStore({ dataDir: join(dir, "data") });
  host = fakeHost(join(dir, "host"));
  const deps: WorkerDeps = {
    store,
    mirrors: new MirrorCache({ dir: join(tmp, "mirrors"), maxBytes: 1 << 30, allowedOrigin: gitServer.url }),
    hosts: [
      HostSchema.parse({
        name: "app1",
        address: "192.0.2.10",
        labels: { role: "app" },
        compose: "docker-compose",
        root: host.root,
      }),
    ],
    remote: host,
    cache: new ParseCache(),
    appSlug: "stackpilot",
    installationId: "test",
    engine: { healthTimeoutMs: 5_000, healthPollMs: 50 },
  };
  probot = await loadTestApp({
    Octokit: testOctokit(),
    deps,
    onJob: (run) => jobs.push(run),
    onLoad: (app) => {
      const warn = app.log.warn.bind(app.log);
      app.log.warn = ((msg: unknown, ...rest: unknown[]) => {
        warnings.push(String(msg));
        return warn(msg as never, ...(rest as never[]));
      }) as typeof app.log.warn;
    },
  });
}, 60_000);

afterEach(async () => {
  nock.emitter.removeListener("no match", onNoMatch);
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  await store.close();
  expect(pending).toEqual([]);
  expect(unmatched).toEqual([]);
});

/** The comment command arrives; the worker runs it to the end. */
async function comment(body: string, login = "octocat"): Promise<number> {
  const commentId = 5000 + ++seq;
  const payload = prCommentPayload({
    repo: { fullName: FULL, cloneUrl: gitServer.cloneUrl(FULL) },
    api: API,
    pr: 1,
    commentId,
    body,
    user: { login, type: "User" },
  });
  await probot.receive({ id: `d-${seq}`, name: "issue_comment", payload } as never);
  await Promise.all(jobs);
  return commentId;
}

/** The Stackpilot comment as the app last wrote it (what GitHub now shows). */
function stickyBody(initial: string): string {
  return String(sent("PATCH", `${R}/issues/comments/${STICKY_ID}`).at(-1)?.body ?? initial);
}

/**
 * GitHub's side of one `/deploy` of `head` on PR #1 by an admin with an approval: token, 👀/🚀,
 * the PR, the facts, a deployment with its statuses, the deploy check run (answers given by the
 * caller, to inject failures), the sticky comment found and edited, the reply.
 */
function deployScope(
  head: string,
  sticky: string,
  checkRun: (scope: nock.Scope) => nock.Scope = (s) =>
    s.post(`${R}/check-runs`).reply(201, { id: 555, html_url: "https://github.com/acme/infra/runs/555" }),
  statuses: (scope: nock.Scope) => nock.Scope = (s) =>
    s.post(`${R}/deployments/77/statuses`).times(3).reply(201, { id: 1 }),
): nock.Scope {
  prHeadAt(head);
  const scope = api()
    .post("/app/installations/42/access_tokens")
    .optionally()
    .reply(201, { token: "ghs_test", expires_at: "2099-01-01T00:00:00Z", permissions: {} })
    .post(/\/issues\/comments\/\d+\/reactions$/)
    .times(2)
    .reply(201, { id: 1 })
    .get(`${R}/pulls/1`)
    .reply(200, {
      number: 1,
      user: { login: "octocat" },
      head: { sha: head, ref: "feature", repo: { full_name: FULL } },
      base: { ref: "main", repo: { full_name: FULL } },
    })
    .get(`${R}/collaborators/octocat/permission`)
    .reply(200, { permission: "admin", role_name: "admin", user: { login: "octocat" } })
    .get(`${R}/pulls/1/reviews`)
    .query(true)
    .reply(200, [
      {
        user: { login: "alice" },
        state: "APPROVED",
        author_association: "MEMBER",
        submitted_at: "2026-01-05T00:00:00Z",
      },
    ])
    .get(`${R}/commits/${head}/check-runs`)
    .query(true)
    .reply(200, {
      total_count: 1,
      check_runs: [
        { id: 500, name: "stackpilot/plan", head_sha: head, status: "completed", conclusion: "success" },
      ],
    })
    .post(`${R}/deployments`)
    .reply(201, { id: 77 });
  statuses(scope);
  checkRun(scope);
  // Check-run updates are coalesced, so their number varies: any number of them succeed (after
  // the failures the caller set up, which nock matches first).
  if (!updatesAnswered) api().patch(`${R}/check-runs/555`).reply(200, { id: 555 }).persist();
  updatesAnswered = true;
  return stickyScope(scope, sticky);
}

/** The sticky comment found on the PR (with `body`), edited in place, and the reply posted. */
function stickyScope(scope: nock.Scope, body: string): nock.Scope {
  return scope
    .get(`${R}/issues/1/comments`)
    .query(true)
    .reply(200, [
      { id: 800, body: "Looks good", user: { login: "alice", type: "User" } },
      { id: STICKY_ID, body, user: BOT, html_url: STICKY_URL },
    ])
    .patch(`${R}/issues/comments/${STICKY_ID}`)
    .reply(200, { id: STICKY_ID, html_url: STICKY_URL })
    .post(`${R}/issues/1/comments`)
    .reply(201, { id: 7 });
}

/**
 * The stacks deployed: webapp (also changed by PR #1) builds an image and needs a builder host,
 * which is not what these tests are about.
 */
const DEPLOY = "/deploy authelia monitoring";

/** The sticky comment as a plan left it: one plan section of `head`. */
const planned = (head: string) =>
  `${MARKER}\n<!-- stackpilot:section plan sha=${head} -->\n### Stackpilot plan \`aaaaaaa..${head.slice(0, 7)}\`\n\n**1** of 6 stacks changed.\n`;

describe("/deploy results in the PR's Stackpilot comment", () => {
  it("edits the one comment in place: the plan stays, a last-deploy section lists every stack × host; the reply links there", async () => {
    deployScope(head1, planned(head1));
    await comment(DEPLOY);

    const deployments = await store.listDeployments({ repo: FULL, limit: 100 });
    expect(deployments.length).toBeGreaterThan(0);
    expect(deployments.every((d) => d.status === "succeeded")).toBe(true);
    // One edit of the existing comment; the only comment posted is the reply, without the marker.
    expect(sent("PATCH", `${R}/issues/comments/${STICKY_ID}`)).toHaveLength(1);
    const posted = sent("POST", `${R}/issues/1/comments`).map((b) => String(b.body));
    expect(posted).toHaveLength(1);
    expect(posted[0]).not.toContain(MARKER);
    expect(posted[0]).toContain("**production**:");
    expect(posted[0]).toContain(STICKY_URL);

    const body = stickyBody("");
    expect(body.startsWith(MARKER)).toBe(true);
    expect(body.length).toBeLessThanOrEqual(65_535);
    // The plan section is kept, noted as planned before the deploy, and comes first.
    expect(body).toContain(`<!-- stackpilot:section plan sha=${head1} -->`);
    expect(body).toContain("_Note: planned before the deploy below");
    expect(body.indexOf("section plan")).toBeLessThan(body.indexOf("section deploy"));
    expect(body).toContain(`<!-- stackpilot:section deploy sha=${head1} -->`);
    expect(body).toContain(`### Last deploy: \`${head1.slice(0, 7)}\` by @octocat`);
    for (const d of deployments)
      expect(body).toContain(`| \`${d.stack}\` | \`${d.host}\` | deploy | ✅ success |`);
    expect(body).toMatch(
      new RegExp(`\\*\\*production\\*\\*: ${deployments.length} of ${deployments.length} deployed`),
    );
    // The deploy check run: no update repeats the one before, and it is completed once.
    const updates = sent("PATCH", `${R}/check-runs/555`).map((b) => JSON.stringify(b));
    expect(updates.filter((u, i) => u === updates[i - 1])).toEqual([]);
    expect(updates.filter((u) => u.includes('"status":"completed"'))).toHaveLength(1);
  }, 60_000);

  it("/rollback: the last-deploy section becomes the rollback's per-host result, the plan stays", async () => {
    deployScope(head1, planned(head1));
    await comment(DEPLOY);
    deployScope(head2, stickyBody(""));
    await comment(DEPLOY);
    const afterDeploys = stickyBody("");
    expect(afterDeploys).toContain(`### Last deploy: \`${head2.slice(0, 7)}\``);
    expect(afterDeploys).toContain("| `authelia` | `app1` | deploy | ✅ success |");

    stickyScope(
      api()
        .post(/\/issues\/comments\/\d+\/reactions$/)
        .times(2)
        .reply(201, { id: 1 })
        // Allowed as /deploy is in authelia's environment (production: approved, write).
        .get(`${R}/pulls/1`)
        .reply(200, {
          number: 1,
          user: { login: "octocat" },
          head: { sha: head2, ref: "feature", repo: { full_name: FULL } },
          base: { ref: "main", repo: { full_name: FULL } },
        })
        .get(`${R}/collaborators/octocat/permission`)
        .reply(200, { permission: "write", role_name: "write", user: { login: "octocat" } })
        .get(`${R}/pulls/1/reviews`)
        .query(true)
        .reply(200, [
          {
            user: { login: "alice" },
            state: "APPROVED",
            author_association: "MEMBER",
            submitted_at: "2026-01-05T00:00:00Z",
          },
        ]),
      afterDeploys,
    );
    await comment("/rollback authelia");
    const body = stickyBody("");
    expect(body).toContain("### Last rollback: `authelia` by @octocat");
    expect(body).toContain(
      `| \`app1\` | \`${head2.slice(0, 7)}\` | \`${head1.slice(0, 7)}\` | ✅ rolled back, pinned |`,
    );
    expect(body).not.toContain("### Last deploy");
    expect(body).toContain("<!-- stackpilot:section plan");
    expect(body).toContain("_Note: planned before the rollback below");
    expect((await store.getDeployed(FULL)).find((d) => d.stack === "authelia")).toMatchObject({
      commit: head1,
      pinned: true,
    });
  }, 90_000);
});

describe("GitHub failing the deploy check run's requests", () => {
  it("5xx and secondary rate limits on check-run create and update are retried; the check run ends completed/success", async () => {
    deployScope(head1, planned(head1), (s) =>
      s
        .post(`${R}/check-runs`)
        .reply(502, { message: "Bad Gateway" })
        .post(`${R}/check-runs`)
        .reply(403, SECONDARY, { "retry-after": "1" })
        .post(`${R}/check-runs`)
        .reply(201, { id: 555, html_url: "https://github.com/acme/infra/runs/555" })
        .patch(`${R}/check-runs/555`)
        .reply(500, { message: "Internal Server Error" })
        .patch(`${R}/check-runs/555`)
        .reply(403, SECONDARY, { "retry-after": "1" }),
    );
    await comment(DEPLOY);

    const creates = sent("POST", `${R}/check-runs`);
    expect(creates).toHaveLength(3);
    expect(creates[2]).toEqual(creates[0]);
    expect(creates[0]).toMatchObject({
      name: "stackpilot/deploy: production",
      head_sha: head1,
      status: "queued",
    });
    const updates = sent("PATCH", `${R}/check-runs/555`);
    // The first update was answered 500, then 403 (secondary), then went through: the same body thrice.
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(updates[1]).toEqual(updates[0]);
    expect(updates[2]).toEqual(updates[0]);
    expect(updates.at(-1)).toMatchObject({ status: "completed", conclusion: "success" });
    expect(String((updates.at(-1)?.output as { title?: string } | undefined)?.title)).toMatch(
      /^Deployed to production/,
    );
    const statuses = sent("POST", `${R}/deployments/77/statuses`);
    expect(statuses.map((b) => b.state)).toEqual(["queued", "in_progress", "success"]);
    // The environment's url, from the default branch's rules, shown with the deployment.
    expect(statuses.at(-1)).toMatchObject({ environment_url: "https://apps.example.com" });
  }, 60_000);

  it("an intermediate update that stays rate limited is given up; the final state still lands", async () => {
    deployScope(head1, planned(head1), (s) =>
      s
        .post(`${R}/check-runs`)
        .reply(201, { id: 555, html_url: "https://github.com/acme/infra/runs/555" })
        // 1 try + 3 retries (DEFAULT_RETRY_POLICY.secondaryRetries) of the first update.
        .patch(`${R}/check-runs/555`)
        .times(1 + DEFAULT_RETRY_POLICY.secondaryRetries)
        .reply(403, SECONDARY, { "retry-after": "1" }),
    );
    await comment(DEPLOY);
    const updates = sent("PATCH", `${R}/check-runs/555`);
    expect(updates.length).toBeGreaterThan(1 + DEFAULT_RETRY_POLICY.secondaryRetries);
    expect(updates.at(-1)).toMatchObject({ status: "completed", conclusion: "success" });
    expect(warnings.some((w) => w.startsWith("check run update failed"))).toBe(true);
    expect(sent("POST", `${R}/deployments/77/statuses`).map((b) => b.state)).toEqual([
      "queued",
      "in_progress",
      "success",
    ]);
  }, 60_000);
});
