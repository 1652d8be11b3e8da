// Which GitHub the App talks to, end to end through Probot: on GitHub Enterprise (GHE_HOST) every
// request, the installation token for git included, goes to that host even when no token is cached
// yet; and git clones only from that host, so a payload's clone_url cannot send the token elsewhere.
// GitHub's API is simulated by nock (network off), git is served over real smart HTTP on loopback.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { githubHost } from "../../src/github/api/githubHost.ts";
import type { WorkerDeps } from "../../src/github/jobs/jobContext.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { pullRequestFixture } from "../helpers/prFixture.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { aboutRepo, examplePayload } from "../helpers/webhooks.ts";

const FULL = "acme/infra";
const TOKEN = "ghs_gheInstallationToken";

let tmp: string;
let gitServer: GitHttpServer;
/** Another HTTP server on loopback, recording what reaches it: where a hostile clone_url points. */
let elsewhere: GitHttpServer;
let git: (...args: string[]) => string;
let store: Store;
let unmatched: string[];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-ghe-"));
  git = pullRequestFixture(join(tmp, "remote"));
  gitServer = await startGitHttpServer({ token: TOKEN });
  git("push", "-q", "--mirror", gitServer.createRepo(FULL).bareDir);
  elsewhere = await startGitHttpServer({ token: TOKEN });
  git("push", "-q", "--mirror", elsewhere.createRepo(FULL).bareDir);
  store = await openStore({ dataDir: join(tmp, "data") });
}, 120_000);

afterAll(async () => {
  await store?.close();
  await gitServer?.close();
  await elsewhere?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const onNoMatch = (req: { method?: string; url?: string; path?: string }) => {
  unmatched.push(`${req.method} ${req.url ?? req.path}`);
};

beforeEach(async () => {
  nock.disableNetConnect();
  unmatched = [];
  gitServer.resetCounters();
  elsewhere.resetCounters();
  nock.emitter.on("no match", onNoMatch);
});

afterEach(() => {
  nock.emitter.removeListener("no match", onNoMatch);
  nock.cleanAll();
  nock.enableNetConnect();
});

/** A fresh App (nothing cached) on the GitHub Enterprise that serves the test's git: GHE_HOST = its host. */
async function gheApp() {
  const ghe = githubHost({ GHE_HOST: new URL(gitServer.url).host, GHE_PROTOCOL: "http" });
  const jobs: Promise<void>[] = [];
  const deps: WorkerDeps = {
    store,
    mirrors: new MirrorCache({
      dir: join(mkdtempSync(join(tmp, "m-")), "mirrors"),
      allowedOrigin: ghe.origin,
    }),
    hosts: [],
    remote: { exec: () => Promise.reject(new Error("no host may be contacted in this test")) },
    cache: new ParseCache(),
    appSlug: "stackpilot",
    installationId: "test",
  };
  const probot = await loadTestApp({
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
    deps,
    baseUrl: ghe.apiUrl,
    onJob: (run) => jobs.push(run),
  });
  /** A push of main's last commit, as a payload whose repository has this clone URL. */
  const push = async (cloneUrl: string) => {
    const payload = aboutRepo(examplePayload("push"), { fullName: FULL, cloneUrl });
    Object.assign(payload, {
      ref: "refs/heads/main",
      before: git("rev-parse", "main~1"),
      after: git("rev-parse", "main"),
      deleted: false,
      forced: false,
    });
    await probot.receive({ id: `push-${Math.random()}`, name: "push", payload } as never);
    return Promise.all(jobs);
  };
  return { ghe, push };
}

describe("GitHub Enterprise (GHE_HOST)", () => {
  it("asks the Enterprise API for the installation token when a push is the first event after start", async () => {
    const { ghe, push } = await gheApp();
    const api = nock(ghe.apiUrl)
      .post("/app/installations/42/access_tokens")
      .reply(201, { token: TOKEN, expires_at: "2099-01-01T00:00:00Z", permissions: {} })
      .post(`/repos/${FULL}/check-runs`)
      .reply(201, { id: 1 });

    await push(gitServer.cloneUrl(FULL));

    // One token, from the Enterprise API, used by git and then by the API calls (cached).
    expect(api.isDone()).toBe(true);
    expect(unmatched).toEqual([]);
    expect(gitServer.fetches(FULL)).toBe(1);
  });
});

describe("clone URLs", () => {
  it("refuses a clone_url on another origin before any request; the job fails for good, as a failing check run", async () => {
    const { push } = await gheApp();
    let check: Record<string, unknown> | undefined;
    nock(githubHost({ GHE_HOST: new URL(gitServer.url).host, GHE_PROTOCOL: "http" }).apiUrl)
      .post("/app/installations/42/access_tokens")
      .reply(201, { token: TOKEN, expires_at: "2099-01-01T00:00:00Z", permissions: {} })
      .post(`/repos/${FULL}/check-runs`, (body) => {
        check = body;
        return true;
      })
      .reply(201, { id: 1 });

    // The job settles: a permanent error is reported, not thrown for the queue to retry.
    await push(elsewhere.cloneUrl(FULL));

    expect(elsewhere.requests).toEqual([]);
    expect(gitServer.requests).toEqual([]);
    expect(check).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(JSON.stringify(check)).toContain(
      `clone URL of ${FULL} is on ${new URL(elsewhere.url).origin}, not on the configured GitHub ${new URL(gitServer.url).origin}: refused (set GHE_HOST and GHE_PROTOCOL for GitHub Enterprise)`,
    );
    expect(unmatched).toEqual([]);
  });
});
