// GitHub sign-in for the web UI, with GitHub simulated by nock (a GitHub Enterprise on the address
// of a real git server, which serves the repository the rules are read from): the OAuth state
// must match the browser's cookie, a user sees only the repositories GitHub lists for them, that
// list is asked again when it is old, and Unlock follows the default branch's rules.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { MirrorCache } from "../../src/git/mirror.ts";
import { type GitHubHost, githubHost } from "../../src/github/api/githubHost.ts";
import { deployLockKey } from "../../src/state/deployments.ts";
import type { Store } from "../../src/state/store.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { nockGitHubUser } from "../helpers/githubUser.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { Browser, hiddenValue, startUi, type UiServer } from "./uiServer.ts";

const backends = useStateBackends();
const pglite = backends.filter((b) => b.name === "pglite");
const REPO = "acme/infra";
const SECRET_REPO = "acme/secret";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const INSTALLATION_TOKEN = "ghs_ui_installation";
const CONFIG = `version: 1
discover:
  roots: ["stacks/*"]
defaults:
  environment: production
environments:
  production:
    hosts: ["*"]
    permission: write
    requires: [approved]
`;

let git: GitHttpServer;
let gh: GitHubHost;
let tmp: string;
let policyCommit: string;

beforeAll(async () => {
  git = await startGitHttpServer({ token: INSTALLATION_TOKEN });
  policyCommit = git
    .createRepo(REPO)
    .commit({ ".github/stackpilot.yml": CONFIG, "stacks/web/compose.yaml": "services: {}\n" });
  gh = githubHost({ GHE_HOST: new URL(git.url).host, GHE_PROTOCOL: "http" });
  tmp = mkdtempSync(join(tmpdir(), "sp-ui-signin-"));
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
});
afterAll(async () => {
  await git?.close();
  rmSync(tmp, { recursive: true, force: true });
  nock.enableNetConnect();
});
afterEach(() => nock.cleanAll());

/** GitHub's side of one user: the code exchange, who they are, what they can read. */
function githubUser(login: string, repos: string[], opts: { times?: number } = {}) {
  return nockGitHubUser(gh, login, repos, opts);
}

/** Signs `b` in through the OAuth redirects, as GitHub would send the browser back. */
async function signIn(b: Browser, code: string, next = "/ui"): Promise<Response> {
  const start = await b.get(`/ui/auth/github?next=${encodeURIComponent(next)}`);
  const location = new URL(start.headers.get("location") ?? "");
  expect(`${location.origin}${location.pathname}`).toBe(`${gh.origin}/login/oauth/authorize`);
  const state = location.searchParams.get("state") ?? "";
  return b.get(`/ui/auth/callback?code=${code}&state=${encodeURIComponent(state)}`);
}

describe.each(pglite)("GitHub sign-in on $name", (backend) => {
  let store: Store;
  let ui: UiServer;
  const env = {
    GITHUB_CLIENT_ID: "Iv1.client",
    GITHUB_CLIENT_SECRET: "client-secret",
    STACKPILOT_UI_URL: "https://stackpilot.example.test",
  };

  beforeAll(async () => {
    store = await backend.openStore();
    for (const repo of [REPO, SECRET_REPO]) {
      const id = await store.createDeployment({
        repo,
        stack: "web",
        host: "h1",
        commit: SHA,
        fingerprint: "f",
        actor: "a",
        trigger: "merge",
      });
      await store.setDeployed({
        repo,
        stack: "web",
        host: "h1",
        fingerprint: "f",
        commit: SHA,
        deploymentId: id,
      });
    }
    const mirrors = new MirrorCache({
      dir: join(tmp, "mirrors"),
      maxBytes: 1 << 30,
      allowedOrigin: gh.origin,
    });
    ui = await startUi({ store, github: gh, env, mirrors, installationToken: INSTALLATION_TOKEN });
  });
  afterAll(async () => {
    await ui.close();
  });

  it("sends the browser to GitHub's authorize page with the App's client id, callback and a state", async () => {
    const b = new Browser(ui.url);
    const res = await b.get("/ui/auth/github?next=/ui/locks");
    expect(res.status).toBe(302);
    const url = new URL(res.headers.get("location") ?? "");
    expect(url.searchParams.get("client_id")).toBe("Iv1.client");
    expect(url.searchParams.get("redirect_uri")).toBe("https://stackpilot.example.test/ui/auth/callback");
    expect(url.searchParams.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.cookies.has("stackpilot-oauth")).toBe(true);
  });

  it("refuses a callback whose state is not this browser's, without asking GitHub", async () => {
    githubUser("mallory", [REPO]);
    const b = new Browser(ui.url);
    await b.get("/ui/auth/github");
    const res = await b.get("/ui/auth/callback?code=abc&state=not-the-state");
    expect(res.status).toBe(400);
    const fresh = new Browser(ui.url);
    expect((await fresh.get("/ui/auth/callback?code=abc&state=x")).status).toBe(400);
    expect(b.cookies.has("stackpilot-session")).toBe(false);
    expect(nock.pendingMocks()).toContain(`POST ${gh.origin}/login/oauth/access_token`);
  });

  it("shows a signed-in user only the repositories GitHub lists for them", async () => {
    githubUser("reader", [REPO]);
    const b = new Browser(ui.url);
    const res = await signIn(b, "code-reader", "/ui/locks");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/ui/locks");
    const matrix = await (await b.get("/ui")).text();
    expect(matrix).toContain("Signed in as reader");
    expect(matrix).toContain(`<h2 id="repo-${REPO}">`);
    expect(matrix).not.toContain(SECRET_REPO);
    const [secret] = await store.listDeployments({ repo: SECRET_REPO, limit: 1 });
    expect((await b.get(`/ui/deployments/${secret?.id}`)).status).toBe(404);
    expect((await b.get(`/ui/deployments/${secret?.id}/events`)).status).toBe(404);
    const list = await (await b.get("/ui/deployments")).text();
    expect(list).toContain(REPO);
    expect(list).not.toContain(SECRET_REPO);
  });

  it("unlocks for a user with write permission and refuses a reader, by the default branch's rules", async () => {
    const key = deployLockKey({ repo: REPO, stack: "web", host: "h1" });
    await store.acquireLock(key, "bob (merge)", 60_000);
    const installation = nock(gh.apiUrl, {
      reqheaders: { authorization: `token ${INSTALLATION_TOKEN}` },
    }).persist();
    installation.get(`/repos/${REPO}`).reply(200, { default_branch: "main", clone_url: git.cloneUrl(REPO) });
    installation
      .get(`/repos/${REPO}/collaborators/reader/permission`)
      .reply(200, { permission: "read", role_name: "read" });
    installation
      .get(`/repos/${REPO}/collaborators/writer/permission`)
      .reply(200, { permission: "write", role_name: "write" });

    githubUser("reader", [REPO]);
    const reader = new Browser(ui.url);
    await signIn(reader, "code-reader");
    const csrf = hiddenValue(await (await reader.get("/ui/locks")).text(), "csrf");
    const refused = await reader.post("/ui/locks/unlock", { csrf, repo: REPO, stack: "web", host: "h1" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain(
      `@reader cannot unlock in production: it needs write permission on this repository (@reader has read). (rules of main at ${policyCommit.slice(0, 7)})`,
    );
    expect(await store.getLock(key)).toBeDefined();

    githubUser("writer", [REPO]);
    const writer = new Browser(ui.url);
    await signIn(writer, "code-writer");
    const writerCsrf = hiddenValue(await (await writer.get("/ui/locks")).text(), "csrf");
    // The reader's CSRF token is no good in the writer's session.
    expect(
      (await writer.post("/ui/locks/unlock", { csrf, repo: REPO, stack: "web", host: "h1" })).status,
    ).toBe(403);
    const done = await writer.post("/ui/locks/unlock", {
      csrf: writerCsrf,
      repo: REPO,
      stack: "web",
      host: "h1",
    });
    expect(done.status).toBe(303);
    expect(await store.getLock(key)).toBeUndefined();
  });

  it("asks GitHub again once the list is old, and a repository taken away disappears", async () => {
    const short = await startUi({ store, github: gh, env, accessTtlMs: 0 });
    try {
      githubUser("dana", [REPO]);
      const b = new Browser(short.url);
      await signIn(b, "code-dana");
      const api = nock(gh.apiUrl, { reqheaders: { authorization: "token ghu_dana" } });
      api
        .get("/user/installations")
        .query(true)
        .reply(200, { total_count: 1, installations: [{ id: 42 }] });
      api
        .get("/user/installations/42/repositories")
        .query(true)
        .reply(200, { total_count: 0, repositories: [] });
      const html = await (await b.get("/ui")).text();
      expect(api.isDone()).toBe(true);
      expect(html).not.toContain(REPO);
    } finally {
      await short.close();
    }
  });

  it("sends a user whose token this process does not hold back through GitHub, to return where they were", async () => {
    githubUser("erin", [REPO]);
    const b = new Browser(ui.url);
    await signIn(b, "code-erin");
    // Another replica (or this one restarted): the session is in the database, the token is not.
    const replica = await startUi({ store, github: gh, env, accessTtlMs: 0 });
    try {
      const res = await new Browser(replica.url).get("/ui/locks", {
        cookie: `stackpilot-session=${b.cookies.get("stackpilot-session")}`,
      });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/ui/auth/github?next=%2Fui%2Flocks");
      const post = await fetch(`${replica.url}/ui/locks/unlock`, {
        method: "POST",
        headers: { cookie: `stackpilot-session=${b.cookies.get("stackpilot-session")}` },
      });
      expect(post.status).toBe(401);
    } finally {
      await replica.close();
    }
  });

  it("ends the session on sign-out", async () => {
    githubUser("frank", [REPO]);
    const b = new Browser(ui.url);
    await signIn(b, "code-frank");
    const csrf = hiddenValue(await (await b.get("/ui")).text(), "csrf");
    const cookie = b.cookies.get("stackpilot-session");
    expect((await b.post("/ui/auth/signout", { csrf })).status).toBe(303);
    const res = await fetch(`${ui.url}/ui`, { headers: { cookie: `stackpilot-session=${cookie}` } });
    expect(res.status).toBe(401);
  });
});
