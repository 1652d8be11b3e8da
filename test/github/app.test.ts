// The GitHub App through Probot: real example payloads, GitHub simulated by nock, everything else
// real (git mirror of a fixture repository, PGlite state, the worker).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { pullRequestFixture } from "../helpers/prFixture.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { aboutRepo, examplePayload } from "../helpers/webhooks.ts";

const API = "https://api.github.com";
const OWNER = "acme";
const NAME = "infra";

let tmp: string;
let remote: string;
let gitServer: GitHttpServer;
let store: Store;
let probot: Probot;
let jobs: Promise<void>[];
let git: (...args: string[]) => string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-app-"));
  remote = join(tmp, "remote");
  // PR #1: the last commit on a branch, main one commit behind; GitHub keeps the head as refs/pull/1/head.
  git = pullRequestFixture(remote);
  git("update-ref", "refs/pull/1/head", "HEAD");
  // Served over real smart HTTP that demands the installation token.
  gitServer = await startGitHttpServer({ token: "ghs_test" });
  const served = gitServer.createRepo(`${OWNER}/${NAME}`);
  git("push", "-q", "--mirror", served.bareDir);
  store = await openStore({ dataDir: join(tmp, "data") });
});

afterAll(async () => {
  await store.close();
  await gitServer.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  nock.disableNetConnect();
  jobs = [];
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
      hosts: [],
      remote: { exec: () => Promise.reject(new Error("no host may be contacted in this test")) },
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

function repoPayload(payload: Record<string, unknown>): Record<string, unknown> {
  return aboutRepo(payload, {
    fullName: `${OWNER}/${NAME}`,
    cloneUrl: gitServer.cloneUrl(`${OWNER}/${NAME}`),
  });
}

const token = () =>
  nock(API)
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_test", expires_at: "2099-01-01T00:00:00Z", permissions: {} });

describe("pull request plans", () => {
  it("plans the PR head against the merge base: one check run, one sticky comment", async () => {
    const head = git("rev-parse", "HEAD");
    const base = git("rev-parse", "HEAD~1");
    const payload = repoPayload(examplePayload("pull_request", "opened"));
    Object.assign(payload.pull_request as object, {
      number: 1,
      head: { sha: head, ref: "feature", repo: { full_name: `${OWNER}/${NAME}` } },
    });
    let checkBody: Record<string, unknown> | undefined;
    let commentBody = "";
    token();
    nock(API)
      .get(`/repos/${OWNER}/${NAME}/pulls/1`)
      .reply(200, {
        number: 1,
        user: { login: "octocat" },
        head: { sha: head, ref: "feature", repo: { full_name: `${OWNER}/${NAME}` } },
        base: { sha: base, ref: "main", repo: { full_name: `${OWNER}/${NAME}` } },
      })
      .post(`/repos/${OWNER}/${NAME}/check-runs`, (body) => {
        checkBody = body;
        return true;
      })
      .reply(201, { id: 99, html_url: "https://github.com/acme/infra/runs/99" })
      .get(`/repos/${OWNER}/${NAME}/issues/1/comments`)
      .query(true)
      .reply(200, [])
      .post(`/repos/${OWNER}/${NAME}/issues/1/comments`, (body) => {
        commentBody = body.body;
        return true;
      })
      .reply(201, { id: 5 })
      // Listed again after the create: only its own comment, so nothing to merge or delete.
      .get(`/repos/${OWNER}/${NAME}/issues/1/comments`)
      .query(true)
      .reply(200, [{ id: 5, body: "<!-- stackpilot:plan -->", user: { login: "stackpilot[bot]" } }]);

    await probot.receive({ id: "d-1", name: "pull_request", payload } as never);
    await Promise.all(jobs);
    expect(checkBody).toMatchObject({
      name: "stackpilot/plan",
      head_sha: head,
      status: "completed",
      conclusion: "success",
    });
    const summary = String((checkBody?.output as { summary?: string } | undefined)?.summary);
    expect(summary).toContain("`authelia`");
    expect(summary).not.toContain("`webapp`");
    expect(commentBody).toContain("<!-- stackpilot:plan -->");
    expect(commentBody).toContain("**4** of 6 stacks changed");
  });

  it("does nothing twice for a redelivered event", async () => {
    const payload = repoPayload(examplePayload("pull_request", "opened"));
    await store.recordDelivery("d-dup", "pull_request.opened");
    await probot.receive({ id: "d-dup", name: "pull_request", payload } as never);
    expect(jobs).toHaveLength(0);
  });
});

describe("jobs that cannot succeed", () => {
  it("a push whose clone URL Stackpilot refuses fails once, as a failing plan check run with the reason; no retry", async () => {
    const after = git("rev-parse", "HEAD");
    const payload = aboutRepo(examplePayload("push"), {
      fullName: `${OWNER}/${NAME}`,
      cloneUrl: "ftp://example.invalid/acme/infra.git",
    });
    Object.assign(payload, {
      ref: "refs/heads/main",
      before: git("rev-parse", "HEAD~1"),
      after,
      deleted: false,
    });
    let check: Record<string, unknown> | undefined;
    token()
      .post(`/repos/${OWNER}/${NAME}/check-runs`, (body) => {
        check = body;
        return true;
      })
      .reply(201, { id: 1 });
    await probot.receive({ id: "d-ftp", name: "push", payload } as never);
    // The job settles (a thrown job would be retried by the queue): nothing left to retry.
    await expect(Promise.all(jobs)).resolves.toBeDefined();
    expect(check).toMatchObject({
      name: "stackpilot/plan",
      head_sha: after,
      status: "completed",
      conclusion: "failure",
      output: { title: "Stackpilot could not plan this commit" },
    });
    expect(JSON.stringify(check)).toContain("must be http(s)");
  });
});
