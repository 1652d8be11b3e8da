// The web UI's drift column, procedure runs pages and hook attempts, over real HTTP on a real
// store (both backends): what the store records is what the pages say, in words, as text, and
// only to a viewer who can read the repository.
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubHost } from "../../src/github/api/githubHost.ts";
import type { Store } from "../../src/state/store.ts";
import { sessionRef } from "../../src/ui/auth/sessions.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { startUi, TOKEN, type UiServer } from "./uiServer.ts";

const backends = useStateBackends();
const github = githubHost({ GHE_HOST: "ghe.example.test" });
const REPO = "acme/infra";
const SECRET_REPO = "acme/secret";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const XSS = `<img src=x onerror="alert(1)">`;
const auth = { authorization: `Bearer ${TOKEN}`, accept: "text/html" };

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

interface Seeded {
  deployment: number;
  run: number;
  secretRun: number;
}

async function seed(store: Store): Promise<Seeded> {
  const deployment = await store.createDeployment({
    repo: REPO,
    stack: "web",
    host: "h1",
    commit: SHA,
    fingerprint: "f",
    actor: "alice",
    trigger: "merge",
    environment: "production",
  });
  await store.startDeployment(deployment);
  const first = await store.startHookRun(deployment, { hook: "pre_deploy", attempt: 1, required: true });
  await store.finishHookRun(first, {
    status: "failed",
    exitCode: 3,
    durationMs: 1250,
    output: `no db ${XSS}`,
  });
  const second = await store.startHookRun(deployment, { hook: "pre_deploy", attempt: 2, required: true });
  await store.finishHookRun(second, {
    status: "succeeded",
    exitCode: 0,
    durationMs: 420,
    output: "migrated",
  });
  await store.startHookRun(deployment, { hook: "post_deploy", attempt: 1, required: false });
  await store.finishDeployment(deployment, { status: "failed", error: "deployer lost" });
  for (const host of ["h1", "h2", "h3"])
    await store.setDeployed({
      repo: REPO,
      stack: "web",
      host,
      fingerprint: "f",
      commit: SHA,
      deploymentId: deployment,
    });
  await store.recordDriftCheck({
    repo: REPO,
    stack: "web",
    host: "h1",
    state: "in_sync",
    details: [],
    commit: SHA,
  });
  await store.recordDriftCheck({
    repo: REPO,
    stack: "web",
    host: "h2",
    state: "drifted",
    details: [`container web-1 is missing ${XSS}`, "image of db differs"],
    commit: SHA,
  });
  await store.recordDriftCheck({
    repo: REPO,
    stack: "web",
    host: "h3",
    state: "unreachable",
    details: ["ssh: connection refused"],
    commit: SHA,
  });
  await store.setDeployed({ repo: "acme/unchecked", stack: "db", host: "h1", fingerprint: "f", commit: SHA });

  const { id: run } = await store.procedures.createRun({
    repo: REPO,
    procedure: "release",
    source: "trigger",
    triggerName: "nightly",
    actor: "octocat",
  });
  const definition = {
    root: "release",
    procedures: {
      release: {
        stages: [
          { name: "canary", steps: [{ name: "deploy web", deploy: { stacks: ["web"], exclude: [] } }] },
          { name: "rest", steps: [{ name: "deploy all", deploy: { stacks: ["*"], exclude: [] } }] },
        ],
      },
    },
  };
  await store.procedures.startRun(run, {
    repoRef: {
      installationId: 1,
      owner: "acme",
      name: "infra",
      fullName: REPO,
      cloneUrl: "",
      defaultBranch: "main",
    },
    branch: "main",
    head: SHA,
    definition,
    policyCommit: null,
  });
  await store.procedures.setStep(run, "0", { kind: "stage", name: "canary", status: "running" });
  await store.procedures.setStep(run, "0.0", {
    kind: "deploy",
    name: "deploy web",
    status: "failed",
    reason: "1 of 1 targets failed",
    detail: {
      targets: [{ stack: "web", host: "h1", action: "deploy", status: "failed", deploymentId: deployment }],
    },
  });
  await store.procedures.setStep(run, "0", { kind: "stage", name: "canary", status: "failed" });
  await store.procedures.setStep(run, "1", {
    kind: "stage",
    name: "rest",
    status: "skipped",
    reason: "an earlier stage failed",
  });
  await store.procedures.finishRun(run, { status: "failed", reason: "stage canary failed" });
  const { id: secretRun } = await store.procedures.createRun({
    repo: SECRET_REPO,
    procedure: "hidden-procedure",
    source: "cli",
    actor: "mallory",
  });
  return { deployment, run, secretRun };
}

describe.each(backends)("the web UI's pages on $name", (backend) => {
  let store: Store;
  let ui: UiServer;
  let ids: Seeded;
  /** A GitHub user's session cookie that may read acme/infra only. */
  let reader: string;

  beforeAll(async () => {
    store = await backend.openStore();
    ids = await seed(store);
    ui = await startUi({
      store,
      github,
      env: {
        GITHUB_CLIENT_ID: "Iv1.client",
        GITHUB_CLIENT_SECRET: "client-secret",
        STACKPILOT_UI_URL: "http://127.0.0.1",
      },
    });
    const id = "r".repeat(43);
    await store.createSession({
      idHash: sessionRef(id).idHash,
      kind: "github",
      login: "reader",
      repos: [{ repo: REPO, installationId: 1 }],
      ttlMs: 60_000,
    });
    reader = `stackpilot-session=${id}`;
  });
  afterAll(async () => {
    await ui.close();
  });

  const page = async (path: string, headers: Record<string, string> = auth) => {
    const res = await fetch(`${ui.url}${path}`, { headers, redirect: "manual" });
    return { status: res.status, html: await res.text() };
  };

  it("shows each target's drift in words with what differs, and counts the drifted", async () => {
    const { html } = await page(`/ui?repo=${encodeURIComponent(REPO)}`);
    expect(html).toMatch(/<b>1<\/b> drifted/);
    expect(html).toContain("in sync");
    expect(html).toContain(
      "drifted: container web-1 is missing &lt;img src=x onerror=&quot;alert(1)&quot;&gt;; image of db differs",
    );
    expect(html).toContain("unreachable: ssh: connection refused");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("no drift checks recorded");
  });

  it("links a deployed commit through /ui/c/ID, which sends a reader to it on GitHub Enterprise", async () => {
    const { html } = await page(`/ui?repo=${encodeURIComponent(REPO)}`);
    expect(html).toContain(`<a href="/ui/c/${ids.deployment}">0123456</a>`);
    const res = await fetch(`${ui.url}/ui/c/${ids.deployment}`, {
      headers: { cookie: reader },
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`https://ghe.example.test/${REPO}/commit/${SHA}`);
  });

  it("answers /ui/c/ID 404 for a repository the viewer cannot read and for a target deployed again since", async () => {
    const target = {
      stack: "cache",
      host: "h9",
      fingerprint: "f",
      actor: "alice",
      trigger: "merge" as const,
    };
    const secret = await store.createDeployment({ ...target, repo: SECRET_REPO, commit: SHA });
    await store.setDeployed({ ...target, repo: SECRET_REPO, commit: SHA, deploymentId: secret });
    const hidden = await page(`/ui/c/${secret}`, { cookie: reader, accept: "text/html" });
    expect(hidden.status).toBe(404);
    expect(hidden.html).not.toContain(SECRET_REPO);
    expect((await page(`/ui/c/${secret}`)).status).toBe(303);

    const older = await store.createDeployment({ ...target, repo: REPO, commit: SHA });
    await store.setDeployed({ ...target, repo: REPO, commit: SHA, deploymentId: older });
    expect((await page(`/ui/c/${older}`)).status).toBe(303);
    const newer = await store.createDeployment({ ...target, repo: REPO, commit: "f".repeat(40) });
    await store.setDeployed({ ...target, repo: REPO, commit: "f".repeat(40), deploymentId: newer });
    const gone = await page(`/ui/c/${older}`);
    expect(gone.status).toBe(404);
    expect(gone.html).toContain("reload the matrix");
  });

  it("says drift is unknown for repositories without drift checks", async () => {
    const { html } = await page("/ui?repo=acme%2Funchecked");
    expect(html).toMatch(/<b>unknown<\/b> drifted/);
    expect(html).toContain("Drift: unknown (no drift checks recorded).");
  });

  it("lists procedure runs with procedure, trigger, state, start and duration", async () => {
    const { status, html } = await page("/ui/runs");
    expect(status).toBe(200);
    expect(html).toContain(`<a href="/ui/runs/${ids.run}">${ids.run}</a>`);
    expect(html).toContain(
      '<td>release</td><td>trigger nightly (by octocat)</td><td class="bad">failed</td>',
    );
    expect(html).toMatch(/<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC<\/td><td>\d+ ms<\/td>/);
    expect(html).toContain("hidden-procedure");
  });

  it("shows a run's stages and steps, why one was skipped, and links its deployments", async () => {
    const { status, html } = await page(`/ui/runs/${ids.run}`);
    expect(status).toBe(200);
    expect(html).toContain("Run " + ids.run + ": release");
    expect(html).toContain("(stage canary failed)");
    expect(html).toMatch(/class="depth0">canary<\/th><td><\/td><td class="bad">failed<\/td>/);
    expect(html).toMatch(
      /class="depth1">deploy web<\/th><td>deploy<\/td><td class="bad">failed<\/td><td>1 of 1 targets failed<\/td>/,
    );
    expect(html).toContain(`<a href="/ui/deployments/${ids.deployment}">web on h1</a>: failed`);
    expect(html).toMatch(
      /class="depth0">rest<\/th><td><\/td><td class="">skipped<\/td><td>an earlier stage failed<\/td>/,
    );
    expect(html).toMatch(
      /class="depth1">deploy all<\/th><td>deploy<\/td><td class="">skipped<\/td><td>an earlier stage failed<\/td>/,
    );
  });

  it("reloads a running run's page, and not an ended one's", async () => {
    const { id } = await store.procedures.createRun({
      repo: REPO,
      procedure: "later",
      source: "cli",
      actor: "me",
    });
    expect((await page(`/ui/runs/${id}`)).html).toContain('<meta http-equiv="refresh" content="10">');
    expect((await page(`/ui/runs/${ids.run}`)).html).not.toContain("http-equiv");
  });

  it("shows a GitHub user only the runs of repositories they can read", async () => {
    const list = await page("/ui/runs", { cookie: reader, accept: "text/html" });
    expect(list.status).toBe(200);
    expect(list.html).toContain(`/ui/runs/${ids.run}`);
    expect(list.html).not.toContain("hidden-procedure");
    expect(list.html).not.toContain(SECRET_REPO);
    expect((await page(`/ui/runs/${ids.run}`, { cookie: reader })).status).toBe(200);
    const hidden = await page(`/ui/runs/${ids.secretRun}`, { cookie: reader, accept: "text/html" });
    expect(hidden.status).toBe(404);
    expect(hidden.html).not.toContain("hidden-procedure");
    expect(
      (await page(`/ui/runs?repo=${encodeURIComponent(SECRET_REPO)}`, { cookie: reader })).html,
    ).not.toContain("hidden-procedure");
  });

  it("answers the runs pages 401 without a credential, showing no data", async () => {
    for (const path of ["/ui/runs", `/ui/runs/${ids.run}`]) {
      const { status, html } = await page(path, { accept: "text/html" });
      expect(status, path).toBe(401);
      expect(html).not.toContain("release");
      expect(html).not.toContain(REPO);
    }
  });

  it("shows every hook attempt with its result, duration and output as text", async () => {
    const { html } = await page(`/ui/deployments/${ids.deployment}`);
    expect(html).toContain(
      '<tr><td><code>pre_deploy</code></td><td>1</td><td class="bad">failed (exit 3)</td><td>1.3 s</td><td><pre>no db &lt;img src=x onerror=&quot;alert(1)&quot;&gt;</pre></td></tr>',
    );
    expect(html).toContain(
      '<tr><td><code>pre_deploy</code></td><td>2</td><td class="ok">succeeded</td><td>420 ms</td><td><pre>migrated</pre></td></tr>',
    );
    // Still "running" when its deployment ended: cut off with its deployer.
    expect(html).toContain(
      '<tr><td><code>post_deploy</code> (optional)</td><td>1</td><td class="bad">interrupted</td><td></td>',
    );
    expect(html).not.toContain("<img");
  });
});
