// The GitHub App through Probot: real example payloads, GitHub simulated by nock, everything else
// real (git mirror of a fixture repository, PGlite state, the worker).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { stackpilotApp } from "../../src/github/app.ts";
import type { GithubJob } from "../../src/github/events.ts";
import { createWorker } from "../../src/github/worker.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { examplePayload, testAppPrivateKey } from "../helpers/webhooks.ts";

const API = "https://api.github.com";
const OWNER = "acme";
const NAME = "infra";
const privateKey = testAppPrivateKey;

let tmp: string;
let remote: string;
let gitServer: GitHttpServer;
let store: Store;
let probot: Probot;
let jobs: Promise<void>[];
const git = (...args: string[]) => execFileSync("git", args, { cwd: remote, encoding: "utf8" }).trim();

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-app-"));
  remote = join(tmp, "remote");
  execFileSync("sh", ["fixtures/build-monorepo.sh", remote]);
  // PR #1: the last commit on a branch, main one commit behind; GitHub keeps the head as refs/pull/1/head.
  git("checkout", "-q", "-b", "feature");
  git("branch", "-f", "main", "HEAD~1");
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
  probot = new Probot({
    appId: 1,
    privateKey,
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
  });
  let handle: ((job: GithubJob) => Promise<void>) | undefined;
  await probot.load(
    stackpilotApp({
      store,
      // The queue is exercised in test/state; here jobs run as soon as they are queued.
      enqueue: async (job) => {
        jobs.push((handle as (j: GithubJob) => Promise<void>)(job));
      },
      onLoad: async (app) => {
        handle = createWorker(
          {
            store,
            mirrors: new MirrorCache({ dir: join(tmp, "mirrors"), maxBytes: 1 << 30 }),
            hosts: [],
            remote: { exec: () => Promise.reject(new Error("no host may be contacted in this test")) },
            cache: new ParseCache(),
            appSlug: "stackpilot",
            installationId: "test",
          },
          app,
        );
      },
    }),
  );
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

function repoPayload(payload: Record<string, unknown>): Record<string, unknown> {
  const repository = payload.repository as Record<string, unknown>;
  Object.assign(repository, {
    name: NAME,
    full_name: `${OWNER}/${NAME}`,
    clone_url: gitServer.cloneUrl(`${OWNER}/${NAME}`),
    default_branch: "main",
  });
  (repository.owner as Record<string, unknown>).login = OWNER;
  payload.installation = { id: 42 };
  return payload;
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
