// The web UI in a real browser (Debian's Chromium, driven by playwright-core) against the running
// App, with state from real deploys on a real test host: the App deploys a repository on pushes
// (GitHub simulated by nock in this process; the browser's trip to GitHub's authorize page is
// answered by the test, so the browser only ever talks to the Stackpilot server).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import nock from "nock";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GitHubHost, githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import { deployLockKey } from "../../src/state/deployments.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { nockGitHubUser } from "../helpers/githubUser.ts";
import { testProbot } from "../helpers/probot.ts";
import { aboutRepo, examplePayload, sign } from "../helpers/webhooks.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness } from "./harness/harness.ts";

const SECRET = "e2e-ui-secret";
const REPO = "acme/infra";
const XSS = `<img src=x onerror="alert('subject')"><script>window.__pwned=1</script>`;
const XSS_STACK = `<img src=x onerror="alert('stack')">`;
const XSS_HOST = `h9"><script>window.__pwned=2</script>`;
/** Set to a directory (e.g. docs) to keep the screenshots there. */
const SHOTS = process.env.STACKPILOT_UI_SCREENSHOTS;

let h: Harness;
let tmp: string;
let git: GitHttpServer;
let remote: RemoteRepo;
let ghe: GitHubHost;
let services: Services;
let server: Awaited<ReturnType<typeof startServer>>;
let base: string;
let browser: Browser;
let first: string;
let pushes = 0;

const CONFIG = `version: 1
discover:
  roots: ["stacks/*"]
defaults:
  environment: production
environments:
  production:
    hosts: [{ role: app }]
    deploy_on: merge
    permission: write
`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

beforeAll(async () => {
  h = await startHarness({ hosts: 1 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-ui-"));
  git = await startGitHttpServer({ token: "ghs_e2e" });
  remote = git.createRepo(REPO);
  first = remote.commit(
    {
      ".github/stackpilot.yml": CONFIG,
      "stacks/web/compose.yaml": sleeperCompose("web", [`image: ${h.image}`]),
      "stacks/api/compose.yaml": sleeperCompose("api", [`image: ${h.image}`]),
    },
    "Add web and api",
  );
  ghe = githubHost({ GHE_HOST: new URL(git.url).host, GHE_PROTOCOL: "http" });
  const hostsFile = join(tmp, "hosts.yml");
  writeFileSync(
    hostsFile,
    JSON.stringify({ hosts: [hostEntry(h.hosts[0] as never, { labels: { role: "app" } })] }),
  );

  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const api = nock(ghe.apiUrl).persist();
  api
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_e2e", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
  api.post(`/repos/${REPO}/check-runs`).reply(201, { id: 1, html_url: `${ghe.origin}/${REPO}/runs/1` });
  api.patch(/\/repos\/acme\/infra\/check-runs\/\d+/).reply(200, { id: 1 });
  api.post(`/repos/${REPO}/deployments`).reply(201, { id: 1 });
  api.post(/\/repos\/acme\/infra\/deployments\/\d+\/statuses/).reply(201, { id: 1 });
  api.get(/\/repos\/acme\/infra\/commits\/[0-9a-f]+\/pulls/).reply(200, []);
  // What Unlock asks with the installation's token: the repository and the user's permission.
  api.get(`/repos/${REPO}`).reply(200, { default_branch: "main", clone_url: git.cloneUrl(REPO) });
  api
    .get(`/repos/${REPO}/collaborators/reader/permission`)
    .reply(200, { permission: "read", role_name: "read" });
  api
    .get(`/repos/${REPO}/collaborators/writer/permission`)
    .reply(200, { permission: "write", role_name: "write" });

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  services = await createServices(
    parseEnv({
      STACKPILOT_DATA_DIR: join(tmp, "data"),
      STACKPILOT_HOSTS_FILE: hostsFile,
      STACKPILOT_APP_SLUG: "stackpilot",
      WEBHOOK_SECRET: SECRET,
      GHE_HOST: new URL(git.url).host,
      GHE_PROTOCOL: "http",
      GITHUB_CLIENT_ID: "Iv1.e2e",
      GITHUB_CLIENT_SECRET: "e2e-client-secret",
      STACKPILOT_UI_URL: base,
    }),
  );
  const probot = testProbot({ secret: SECRET, baseUrl: ghe.apiUrl, logLevel: "warn" });
  server = await startServer(services, { probot, secret: SECRET, port });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // launch() gives every run a fresh temporary profile (its own --user-data-dir).
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  await push(first, "0".repeat(40));
  await waitFor("the first deploy", async () => {
    const done = await services.store.listDeployments({ repo: REPO, status: "succeeded", limit: 10 });
    return done.length >= 2 ? done : undefined;
  });
}, 300_000);

afterAll(async () => {
  // A failed test may leave the held lock, and with it a deploy waiting for it: free it first.
  await services?.store
    .forceUnlock(deployLockKey({ repo: REPO, stack: "web", host: "h1" }))
    .catch(() => false);
  await browser?.close();
  await server?.close();
  await services?.stop();
  await git?.close();
  await h?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A push of `after` to main, as GitHub delivers it. */
async function push(after: string, before: string): Promise<void> {
  const payload = examplePayload("push") as Record<string, unknown>;
  Object.assign(payload, {
    ref: "refs/heads/main",
    before,
    after,
    deleted: false,
    forced: false,
    created: false,
  });
  aboutRepo(payload, { fullName: REPO, cloneUrl: git.cloneUrl(REPO) });
  const body = JSON.stringify(payload);
  const res = await fetch(`${base}/api/github/webhooks`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "push",
      "x-github-delivery": `ui-push-${++pushes}`,
      "x-hub-signature-256": sign(body, SECRET),
    },
    body,
  });
  expect(res.status).toBe(200);
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * What a context's pages complain about: console errors (Chromium reports every Content-Security-
 * Policy violation there, e.g. "Refused to execute inline script"), uncaught errors, dialogs.
 */
function watch(context: BrowserContext): string[] {
  const problems: string[] = [];
  const onPage = (page: Page) => {
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${new URL(r.url()).pathname}`);
    });
    page.on("dialog", (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
  };
  context.on("page", onPage);
  for (const page of context.pages()) onPage(page);
  return problems;
}

/** A browser context signed in as `login` through the App's OAuth flow. */
async function signedIn(login: string): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  nockGitHubUser(ghe, login, [REPO], { persist: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const problems = watch(context);
  // GitHub's authorize page, as a user who already authorized the App sees it: straight back to
  // the callback with a code. The browser never leaves the Stackpilot server: the redirect to
  // GitHub is answered here (the state checked against what GitHub was sent), not followed.
  await context.route(`${base}/ui/auth/github**`, async (route) => {
    const toGitHub = await route.fetch({ maxRedirects: 0 });
    const authorize = new URL(toGitHub.headers().location ?? "");
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${ghe.origin}/login/oauth/authorize`);
    const state = authorize.searchParams.get("state") ?? "";
    await route.fulfill({
      response: toGitHub,
      headers: {
        ...toGitHub.headers(),
        location: `${base}/ui/auth/callback?code=code-${login}&state=${encodeURIComponent(state)}`,
      },
    });
  });
  const page = await context.newPage();
  await page.goto(`${base}/ui/login`);
  await page.getByRole("link", { name: "Sign in with GitHub" }).click();
  await page.waitForURL(`${base}/ui`);
  return { context, page, problems };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS ? resolve(SHOTS) : tmp, `ui-${name}.png`), fullPage: true });
}

describe("the web UI in a browser", () => {
  it("shows an anonymous visitor no data: 401 and the sign-in page", async () => {
    const context = await browser.newContext();
    const problems = watch(context);
    const page = await context.newPage();
    for (const path of [
      "/ui",
      "/ui/locks",
      "/ui/deployments",
      "/ui/deployments/1",
      "/ui/runs",
      "/ui/runs/1",
    ]) {
      const res = await page.goto(`${base}${path}`);
      expect(res?.status(), path).toBe(401);
      expect(await page.locator("main").innerText()).not.toContain(REPO);
      expect(await page.locator("table").count()).toBe(0);
      await expect(page.getByRole("link", { name: "Sign in with GitHub" }).count()).resolves.toBe(1);
    }
    // The pages' own 401s (which Chromium also logs as failed loads); nothing else failed.
    expect(problems.filter((p) => !p.endsWith("status of 401 (Unauthorized)"))).toEqual(
      ["/ui", "/ui/locks", "/ui/deployments", "/ui/deployments/1", "/ui/runs", "/ui/runs/1"].map(
        (p) => `HTTP 401: ${p}`,
      ),
    );
    await context.close();
  });

  it("shows the deploy's rows in the matrix, each commit linked to GitHub", async () => {
    const { context, page, problems } = await signedIn("reader");
    const table = page.getByRole("table", { name: "production" });
    expect(await table.locator("thead th").allInnerTexts()).toEqual(["Stack", "h1"]);
    expect(await table.locator("tbody th").allInnerTexts()).toEqual(["api", "web"]);
    for (const stack of ["api", "web"]) {
      const link = table
        .getByRole("row", { name: new RegExp(`^${stack}`) })
        .getByRole("link", { name: first.slice(0, 7) });
      // A short local link (it keeps a 10,000-cell matrix small) that redirects to GitHub.
      const href = await link.getAttribute("href");
      expect(href).toMatch(/^\/ui\/c\/\d+$/);
      const toGitHub = await context.request.get(`${base}${href}`, { maxRedirects: 0 });
      expect(toGitHub.status()).toBe(303);
      expect(toGitHub.headers().location).toBe(`${ghe.origin}/${REPO}/commit/${first}`);
    }
    expect(await page.locator(".counts li").allInnerTexts()).toEqual([
      "2\ndeployed",
      "0\nfailed",
      "unknown\ndrifted",
      "0\nlocked",
    ]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it("streams a running deployment's log into its page; Unlock is refused for a reader and works for a writer", async () => {
    const key = deployLockKey({ repo: REPO, stack: "web", host: "h1" });
    // Someone holds web on h1: the next deploy of it waits, queued, until the lock is freed.
    expect(await services.store.acquireLock(key, "maintenance (cli)", 10 * 60_000)).toBe(true);
    const second = remote.commit(
      { "stacks/web/compose.yaml": sleeperCompose("web", [`image: ${h.image}`, "environment: [V=2]"]) },
      `Fix ${XSS}`,
    );
    await push(second, first);
    const queued = await waitFor("the queued deployment", async () => {
      const [d] = await services.store.listDeployments({ repo: REPO, stack: "web", limit: 1 });
      return d && d.commit === second ? d : undefined;
    });

    const writer = await signedIn("writer");
    const live = await writer.context.newPage();
    const opened = await live.goto(`${base}/ui/deployments/${queued.id}`);
    expect(opened?.headers()["content-security-policy"]).toContain("script-src 'self'");
    expect(await live.locator("#status").innerText()).toBe("queued");
    expect(await live.locator("#log li").count()).toBe(0);
    expect(await live.locator("#finished-row").isHidden()).toBe(true);
    // Marks this document: a reload would lose the mark.
    await live.evaluate(() => {
      (window as { __sameDocument?: boolean }).__sameDocument = true;
    });

    const reader = await signedIn("reader");
    await reader.page.goto(`${base}/ui/locks`);
    await shot(reader.page, "locks");
    const refused = reader.page.waitForResponse(`${base}/ui/locks/unlock`);
    await reader.page.getByRole("button", { name: "Unlock web on h1" }).click();
    expect((await refused).status()).toBe(403);
    expect(await reader.page.locator("main").innerText()).toContain(
      "@reader cannot unlock in production: it needs write permission on this repository (@reader has read).",
    );
    expect(await services.store.getLock(key)).toBeDefined();

    // The writer unlocks with the keyboard alone: Tab from the top of the page, then Enter.
    await writer.page.goto(`${base}/ui/locks`);
    let tabs = 0;
    for (;;) {
      await writer.page.keyboard.press("Tab");
      tabs++;
      const focused = await writer.page.evaluate(() => document.activeElement?.getAttribute("aria-label"));
      if (focused === "Unlock web on h1") break;
      expect(tabs, "Tab presses to reach the Unlock button").toBeLessThan(30);
    }
    await writer.page.keyboard.press("Enter");
    await writer.page.waitForURL(/\/ui\/locks\?unlocked=/);
    expect(await writer.page.getByRole("status").innerText()).toBe("Unlocked web on h1.");

    // The deploy takes the freed lock and runs: every command arrives through the event stream.
    await live.locator("#status", { hasText: "ok" }).waitFor({ timeout: 240_000 });
    expect(await live.locator("#status").getAttribute("class")).toBe("ok");
    // The stream's end brings the finish time into the page, without a reload.
    await live.locator("#finished-row").waitFor({ state: "visible", timeout: 30_000 });
    expect(await live.locator("#finished").innerText()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await live.locator("#started").innerText()).toMatch(/ UTC$/);
    expect(await live.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    const seqs = await live
      .locator("#log li")
      .evaluateAll((lis) => lis.map((li) => Number((li as HTMLElement).dataset.seq)));
    expect(seqs.length).toBeGreaterThanOrEqual(3);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const recorded = await services.store.getDeployment(queued.id);
    // textContent: a multi-line command is one line of an inline <code> as rendered.
    expect(await live.locator("#log li code").allTextContents()).toEqual(
      recorded?.logs.map((l) => l.command),
    );
    await shot(live, "deployment");

    // The commit subject is text: no element, no script ran.
    expect(await live.locator("q").innerText()).toBe(`Fix ${XSS}`);
    expect(await live.locator("main img, main script").count()).toBe(0);
    expect(await live.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    // The live script ran under the page's CSP without a complaint; the reader's 403 is the one
    // failed load.
    expect(writer.problems).toEqual([]);
    expect(reader.problems.filter((p) => !p.endsWith("status of 403 (Forbidden)"))).toEqual([
      "HTTP 403: /ui/locks/unlock",
    ]);
    await writer.context.close();
    await reader.context.close();
  }, 420_000);

  it("shows each target's drift in words and counts the drifted", async () => {
    const [web] = await services.store.listDeployments({ repo: REPO, stack: "web", limit: 1 });
    await services.store.recordDriftCheck({
      repo: REPO,
      stack: "api",
      host: "h1",
      state: "in_sync",
      details: [],
      commit: first,
    });
    await services.store.recordDriftCheck({
      repo: REPO,
      stack: "web",
      host: "h1",
      state: "drifted",
      details: ["container web-web-1 is not running"],
      commit: web?.commit ?? first,
    });
    const { context, page, problems } = await signedIn("reader");
    expect(await page.locator(".counts li").allInnerTexts()).toEqual([
      "2\ndeployed",
      "0\nfailed",
      "1\ndrifted",
      "0\nlocked",
    ]);
    const table = page.getByRole("table", { name: "production" });
    expect(await table.getByRole("row", { name: /^api/ }).innerText()).toContain("in sync");
    expect(await table.getByRole("row", { name: /^web/ }).innerText()).toContain(
      "drifted: container web-web-1 is not running",
    );
    await shot(page, "matrix");
    expect(problems).toEqual([]);
    await context.close();
  });

  it("lists procedure runs and shows a run's stages and steps, its deployments linked", async () => {
    const [web] = await services.store.listDeployments({ repo: REPO, stack: "web", limit: 1 });
    const p = services.store.procedures;
    const { id } = await p.createRun({
      repo: REPO,
      procedure: "release",
      source: "trigger",
      triggerName: "nightly",
      actor: "octocat",
    });
    await p.startRun(id, {
      repoRef: {
        installationId: 42,
        owner: "acme",
        name: "infra",
        fullName: REPO,
        cloneUrl: git.cloneUrl(REPO),
        defaultBranch: "main",
      },
      branch: "main",
      head: web?.commit ?? first,
      definition: {
        root: "release",
        procedures: {
          release: {
            stages: [
              {
                name: "web first",
                steps: [{ name: "deploy web", deploy: { stacks: ["web"], exclude: [] } }],
              },
              { name: "the rest", steps: [{ name: "deploy api", deploy: { stacks: ["api"], exclude: [] } }] },
            ],
          },
        },
      },
      policyCommit: null,
    });
    await p.setStep(id, "0.0", {
      kind: "deploy",
      name: "deploy web",
      status: "succeeded",
      reason: "1 deployed",
      detail: { targets: [{ stack: "web", host: "h1", status: "succeeded", deploymentId: web?.id }] },
    });
    await p.setStep(id, "0", { kind: "stage", name: "web first", status: "succeeded" });
    await p.setStep(id, "1", {
      kind: "stage",
      name: "the rest",
      status: "skipped",
      reason: "when: the branch is not release/*",
    });
    await p.finishRun(id, { status: "succeeded" });

    const { context, page, problems } = await signedIn("reader");
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    const runs = page.getByRole("table", { name: "Newest first" });
    expect(await runs.getByRole("row", { name: new RegExp(`^${id} `) }).innerText()).toContain(
      "release\ttrigger nightly (by octocat)\tsucceeded",
    );
    await runs.getByRole("link", { name: String(id), exact: true }).click();
    await page.waitForURL(`${base}/ui/runs/${id}`);
    const steps = page.getByRole("table", { name: "Stages and steps" });
    expect(await steps.locator("tbody th").allInnerTexts()).toEqual([
      "web first",
      "deploy web",
      "the rest",
      "deploy api",
    ]);
    expect(await steps.getByRole("row", { name: /^the rest/ }).innerText()).toContain(
      "skipped\twhen: the branch is not release/*",
    );
    await shot(page, "run");
    await steps.getByRole("link", { name: "web on h1" }).click();
    await page.waitForURL(`${base}/ui/deployments/${web?.id}`);
    expect(await page.locator("#status").innerText()).toBe("ok");
    expect(problems).toEqual([]);
    await context.close();
  });

  it("shows a hostile stack and host name as text in the matrix", async () => {
    await services.store.setDeployed({
      repo: REPO,
      stack: XSS_STACK,
      host: XSS_HOST,
      fingerprint: "f",
      commit: first,
    });
    const { context, page, problems } = await signedIn("reader");
    const rows = await page.locator("tbody th").allInnerTexts();
    expect(rows).toContain(XSS_STACK);
    expect(await page.locator("thead th").allInnerTexts()).toContain(XSS_HOST);
    expect(await page.locator("main img, main script").count()).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(problems).toEqual([]);
    await context.close();
  });
});
