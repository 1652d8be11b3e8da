// End to end through the GitHub App: a signed `push` webhook over real HTTP leads to containers on
// real test hosts, and (simulated) GitHub receives the check runs, deployments and statuses, and the
// merged PR's Stackpilot comment gets the deploy's results.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GitHubHost, githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { testProbot } from "../helpers/probot.ts";
import { aboutRepo, examplePayload, sign, testAppPrivateKey } from "../helpers/webhooks.ts";
import { type Harness, hostEntry, startHarness } from "./harness/harness.ts";

const SECRET = "e2e-secret";
const REPO = "acme/infra";
const privateKey = testAppPrivateKey;

let h: Harness;
let tmp: string;
let gitServer: GitHttpServer;
let services: Services;
let server: Awaited<ReturnType<typeof startServer>>;
let fixture: string;
/** GitHub here is an Enterprise Server on the git server's address: git clones only from there. */
let ghe: GitHubHost;
let API: string;
const github = {
  checkRuns: [] as Record<string, unknown>[],
  checkUpdates: [] as Record<string, unknown>[],
  deployments: [] as Record<string, unknown>[],
  statuses: [] as { id: number; body: Record<string, unknown> }[],
  /** Edits of PR comments. */
  comments: [] as Record<string, unknown>[],
};

beforeAll(async () => {
  h = await startHarness({ hosts: 2 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-app-"));
  fixture = join(tmp, "repo");
  execFileSync("sh", ["fixtures/build-monorepo.sh", fixture]);
  gitServer = await startGitHttpServer({ token: "ghs_e2e" });
  execFileSync("git", ["push", "-q", "--mirror", gitServer.createRepo(REPO).bareDir], { cwd: fixture });
  const gheEnv = { GHE_HOST: new URL(gitServer.url).host, GHE_PROTOCOL: "http" };
  ghe = githubHost(gheEnv);
  API = ghe.apiUrl;

  const hostsFile = join(tmp, "hosts.yml");
  const roles = ["app", "edge"];
  writeFileSync(
    hostsFile,
    JSON.stringify({
      // h1 is webapp's only host and its builder too: the image stays there, no registry needed.
      hosts: h.hosts.map((t, i) => hostEntry(t, { labels: { role: roles[i] }, builder: i === 0 })),
    }),
  );

  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  // Static replies, bodies recorded from the scopes' request events: nock 15's reply callbacks
  // never answer Octokit's fetch requests, and body matchers also see other requests' bodies.
  const api = nock(API).persist();
  api
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_e2e", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
  api.post(`/repos/${REPO}/check-runs`).reply(201, { id: 1, html_url: `https://github.com/${REPO}/runs/1` });
  api.patch(/\/repos\/acme\/infra\/check-runs\/\d+/).reply(200, { id: 1 });
  api.post(/\/repos\/acme\/infra\/deployments\/\d+\/statuses/).reply(201, { id: 1 });
  // One deployment per environment, numbered in order of creation.
  const deployments = nock(API)
    .post(`/repos/${REPO}/deployments`)
    .reply(201, { id: 1 })
    .post(`/repos/${REPO}/deployments`)
    .reply(201, { id: 2 });
  for (const scope of [api, deployments]) {
    scope.on(
      "request",
      (req: { method: string; path?: string; url?: string }, _interceptor: unknown, raw: string) => {
        const body = JSON.parse(raw || "{}") as Record<string, unknown>;
        const path = req.path ?? new URL(String(req.url), API).pathname;
        const statusOf = /\/deployments\/(\d+)\/statuses$/.exec(path);
        if (statusOf) github.statuses.push({ id: Number(statusOf[1]), body });
        else if (path.endsWith("/deployments")) github.deployments.push(body);
        else if (req.method === "POST" && path.endsWith("/check-runs")) github.checkRuns.push(body);
        else if (req.method === "PATCH") github.checkUpdates.push(body);
      },
    );
  }

  services = await createServices(
    parseEnv({
      STACKPILOT_DATA_DIR: join(tmp, "data"),
      STACKPILOT_HOSTS_FILE: hostsFile,
      STACKPILOT_APP_SLUG: "stackpilot",
      WEBHOOK_SECRET: SECRET,
      ...gheEnv,
    }),
  );
  const probot = testProbot({ secret: SECRET, baseUrl: ghe.apiUrl, privateKey });
  server = await startServer(services, { probot, secret: SECRET });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await services?.stop();
  await gitServer?.close();
  await h?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
  rmSync(tmp, { recursive: true, force: true });
});

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; GitHub saw ${JSON.stringify(github).slice(0, 3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("a push to the default branch", () => {
  it("deploys every merge environment to its hosts and reports checks, deployments, statuses and the merged PR's comment", async () => {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: fixture, encoding: "utf8" }).trim();
    const after = git("rev-parse", "HEAD");
    // The push is PR #7's merge; #8 is open and merely contains the commit.
    const planned = `<!-- stackpilot:plan -->\n<!-- stackpilot:section plan sha=${"c".repeat(40)} -->\n### Stackpilot plan\n\nthe PR's plan\n`;
    const pulls = nock(API)
      .get(`/repos/${REPO}/commits/${after}/pulls`)
      .reply(200, [
        { number: 8, merged_at: null, merge_commit_sha: "f".repeat(40), base: { ref: "main" } },
        { number: 7, merged_at: "2026-11-22T10:00:00Z", merge_commit_sha: after, base: { ref: "main" } },
      ])
      .get(`/repos/${REPO}/issues/7/comments`)
      .query(true)
      .reply(200, [{ id: 555, body: planned, user: { login: "stackpilot[bot]", type: "Bot" } }])
      .patch(`/repos/${REPO}/issues/comments/555`)
      .reply(200, { id: 555, html_url: `https://github.com/${REPO}/pull/7#issuecomment-555` });
    pulls.on("request", (req: { method: string }, _interceptor: unknown, raw: string) => {
      if (req.method === "PATCH") github.comments.push(JSON.parse(raw) as Record<string, unknown>);
    });
    const payload = examplePayload("push") as Record<string, unknown>;
    Object.assign(payload, {
      ref: "refs/heads/main",
      before: git("rev-parse", "HEAD~1"),
      after: git("rev-parse", "HEAD"),
      deleted: false,
      forced: false,
    });
    aboutRepo(payload, { fullName: REPO, cloneUrl: gitServer.cloneUrl(REPO) });
    const body = JSON.stringify(payload);
    const res = await fetch(`http://127.0.0.1:${server.port}/api/github/webhooks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "push-1",
        "x-hub-signature-256": sign(body, SECRET),
      },
      body,
    });
    expect(res.status).toBe(200);

    const finals = await waitFor("both deployments to finish", () => {
      const done = github.statuses.filter((s) => s.body.state === "success" || s.body.state === "failure");
      return done.length >= 2 ? done : undefined;
    });
    expect(
      finals.map((s) => s.body.state),
      JSON.stringify({ d: github.deployments, s: github.statuses }),
    ).toEqual(["success", "success"]);
    expect(github.deployments.map((d) => d.environment).sort()).toEqual(["edge", "production"]);
    for (const d of github.deployments)
      expect(d).toMatchObject({ ref: git("rev-parse", "HEAD"), auto_merge: false, required_contexts: [] });
    const states = (id: number) => github.statuses.filter((s) => s.id === id).map((s) => s.body.state);
    expect(states(1)).toEqual(["queued", "in_progress", "success"]);
    expect(github.checkRuns.map((c) => c.name)).toEqual(
      expect.arrayContaining(["stackpilot/plan", "stackpilot/deploy: production", "stackpilot/deploy: edge"]),
    );
    expect(github.checkUpdates.some((u) => u.status === "completed" && u.conclusion === "success")).toBe(
      true,
    );

    const running = async (host: string) =>
      (
        await h.docker(host, [
          "ps",
          "--format",
          '{{.Label "com.docker.compose.project"}}/{{.Label "com.docker.compose.service"}}',
        ])
      ).stdout
        .split("\n")
        .filter(Boolean)
        .sort();
    expect(await running("h1")).toEqual([
      "authelia/authelia",
      "monitoring/probe",
      "monitoring/shipper",
      "webapp/web",
      "whoami/whoami",
    ]);
    expect(await running("h2")).toEqual(["adguardhome/adguard", "monitoring/probe", "monitoring/shipper"]);

    // The merged PR's comment: its plan kept (noted as of the head before the merge), the merge's
    // deploy below it, every environment and (stack, host).
    const [edit] = await waitFor("the merged PR's comment", () =>
      github.comments.length ? github.comments : undefined,
    );
    const text = String(edit?.body);
    const sender = (payload.sender as { login: string }).login;
    expect(text).toContain("the PR's plan");
    expect(text).toContain(
      `_Note: planned before the merge; the deploy below is of the merge commit \`${after.slice(0, 7)}\`._`,
    );
    expect(text).toContain(`### Last deploy: \`${after.slice(0, 7)}\` on merge by @${sender}`);
    expect(text).toMatch(/\*\*edge\*\*: \d+ of \d+ deployed\n/);
    expect(text).toMatch(/\*\*production\*\*: \d+ of \d+ deployed\n/);
    expect(text).toContain("| `adguardhome` | `h2` | deploy | ✅ success |");
    expect(pulls.isDone()).toBe(true);
  });
});
