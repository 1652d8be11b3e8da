// The web UI over real HTTP on a real store (both backends), with the static token: nothing is
// shown without a credential, POSTs need their CSRF token, oversized input is refused, untrusted
// text is rendered as text, and a running deployment's commands stream as they are recorded.
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubHost } from "../../src/github/api/githubHost.ts";
import { deployLockKey } from "../../src/state/deployments.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { Browser, hiddenValue, startUi, TOKEN, type UiServer } from "./uiServer.ts";

const backends = useStateBackends();
const github = githubHost({ GHE_HOST: "ghe.example.test" });
const REPO = "acme/infra";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const XSS = `<img src=x onerror="alert(1)">'"&`;

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
});
afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

async function seed(store: Store): Promise<{ done: number }> {
  const done = await store.createDeployment({
    repo: REPO,
    stack: "web",
    host: "h1",
    commit: SHA,
    fingerprint: "f1",
    actor: "alice",
    trigger: "merge",
    environment: "production",
    reasons: ["compose.yaml changed"],
    commitSubject: `Fix ${XSS}`,
  });
  await store.startDeployment(done);
  await store.appendCommandLog(done, {
    command: "docker compose up -d",
    code: 0,
    output: `started </pre>${XSS}`,
  });
  await store.finishDeployment(done, { status: "succeeded" });
  await store.setDeployed({
    repo: REPO,
    stack: "web",
    host: "h1",
    fingerprint: "f1",
    commit: SHA,
    deploymentId: done,
  });
  // A hostile stack name and host, as a store written by anything else could hold.
  await store.setDeployed({ repo: REPO, stack: XSS, host: `h2${XSS}`, fingerprint: "f2", commit: SHA });
  await store.acquireLock(deployLockKey({ repo: REPO, stack: "web", host: "h1" }), "bob (command)", 60_000);
  return { done };
}

describe.each(backends)("the web UI on $name", (backend) => {
  let store: Store;
  let ui: UiServer;
  let ids: { done: number };

  beforeAll(async () => {
    store = await backend.openStore();
    ids = await seed(store);
    ui = await startUi({ store, github, env: { STACKPILOT_UI_TOKEN_WRITE: "acme/*" } });
  });
  afterAll(async () => {
    await ui.close();
  });

  it("answers every data page 401 without a credential, showing no data", async () => {
    for (const path of [
      "/ui",
      "/ui/",
      "/ui/locks",
      "/ui/deployments",
      `/ui/deployments/${ids.done}`,
      `/ui/deployments/${ids.done}/events`,
    ]) {
      const res = await fetch(`${ui.url}${path}`, { redirect: "manual" });
      const body = await res.text();
      expect(res.status, path).toBe(401);
      expect(body).not.toContain(REPO);
      expect(body).not.toContain("docker compose");
      expect(body).toContain("Sign in");
    }
    const post = await fetch(`${ui.url}/ui/locks/unlock`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ repo: REPO, stack: "web", host: "h1" }).toString(),
    });
    expect(post.status).toBe(401);
    expect(await store.getLock(deployLockKey({ repo: REPO, stack: "web", host: "h1" }))).toBeDefined();
  });

  it("refuses a wrong bearer token and a session cookie it never issued", async () => {
    const wrong = await fetch(`${ui.url}/ui`, { headers: { authorization: `Bearer ${"x".repeat(40)}` } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).not.toContain(REPO);
    const forged = await fetch(`${ui.url}/ui`, { headers: { cookie: "stackpilot-session=forged" } });
    expect(forged.status).toBe(401);
  });

  it("shows the matrix to the token, with the commit linked on GitHub Enterprise", async () => {
    const res = await fetch(`${ui.url}/ui`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain(`<a href="https://ghe.example.test/acme/infra/commit/${SHA}">0123456</a>`);
    expect(html).toMatch(/<b>2<\/b> deployed/);
    expect(html).toMatch(/<b>1<\/b> locked/);
    expect(html).toContain("locked by bob (command)");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
  });

  it("renders hostile stack and host names, commit subjects and logs as text", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const matrix = await (await fetch(`${ui.url}/ui`, { headers: auth })).text();
    const page = await (await fetch(`${ui.url}/ui/deployments/${ids.done}`, { headers: auth })).text();
    for (const html of [matrix, page]) {
      expect(html).not.toContain("<img");
      expect(html).not.toContain('onerror="alert');
    }
    expect(matrix).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&quot;&amp;");
    expect(page).toContain("<q>Fix &lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&quot;&amp;</q>");
    expect(page).toContain("started &lt;/pre&gt;&lt;img");
    expect(page).toContain("<li>compose.yaml changed</li>");
  });

  it("refuses oversized request URLs with 414 and oversized or invalid filters with 400", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const long = await fetch(`${ui.url}/ui?stack=${"a".repeat(3000)}`, { headers: auth });
    expect(long.status).toBe(414);
    const value = await fetch(`${ui.url}/ui?stack=${"a".repeat(300)}`, { headers: auth });
    expect(value.status).toBe(400);
    const glob = await fetch(`${ui.url}/ui?stack=${encodeURIComponent("+(a)")}`, { headers: auth });
    expect(glob.status).toBe(400);
    expect(await glob.text()).toMatch(/^stack: /);
    // Anonymous too: the length is checked before anything else.
    expect((await fetch(`${ui.url}/ui?x=${"a".repeat(3000)}`)).status).toBe(414);
  });

  it("filters the matrix by stack and host glob", async () => {
    const res = await fetch(`${ui.url}/ui?stack=web&host=h*`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const html = await res.text();
    expect(html).toMatch(/<b>1<\/b> deployed/);
    expect(html).not.toContain("&lt;img");
  });

  it("signs in with the token through the form, and refuses a token form without its CSRF cookie", async () => {
    const b = new Browser(ui.url);
    const page = await (await b.get("/ui/login")).text();
    const stolen = hiddenValue(page, "csrf");
    // Another browser (no login cookie) posting that form: refused.
    const other = new Browser(ui.url);
    const refused = await other.post("/ui/auth/token", { csrf: stolen, token: TOKEN, next: "/ui" });
    expect(refused.status).toBe(403);
    expect(other.cookies.has("stackpilot-session")).toBe(false);
    const signedIn = await b.post("/ui/auth/token", { csrf: stolen, token: TOKEN, next: "/ui/locks" });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get("location")).toBe("/ui/locks");
    expect(signedIn.headers.getSetCookie().join("\n")).toMatch(
      /stackpilot-session=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax/,
    );
    expect((await b.get("/ui")).status).toBe(200);
  });

  it("refuses an unlock without the session's CSRF token, or from another site, and unlocks with it", async () => {
    const key = deployLockKey({ repo: REPO, stack: "web", host: "h1" });
    const b = new Browser(ui.url);
    await b.signInWithToken();
    const target = { repo: REPO, stack: "web", host: "h1" };
    expect((await b.post("/ui/locks/unlock", target)).status).toBe(403);
    expect((await b.post("/ui/locks/unlock", { ...target, csrf: "wrong" })).status).toBe(403);
    const csrf = hiddenValue(await (await b.get("/ui/locks")).text(), "csrf");
    const cross = await b.post("/ui/locks/unlock", { ...target, csrf }, { "sec-fetch-site": "cross-site" });
    expect(cross.status).toBe(403);
    expect(await store.getLock(key)).toBeDefined();
    const done = await b.post("/ui/locks/unlock", { ...target, csrf });
    expect(done.status).toBe(303);
    expect(await store.getLock(key)).toBeUndefined();
    expect(ui.logged.some((l) => l.includes("unlocked acme/infra web on h1"))).toBe(true);
  });

  it("lets the token unlock only in repositories STACKPILOT_UI_TOKEN_WRITE names", async () => {
    const other = "other/repo";
    await store.setDeployed({ repo: other, stack: "db", host: "h1", fingerprint: "f", commit: SHA });
    const key = deployLockKey({ repo: other, stack: "db", host: "h1" });
    await store.acquireLock(key, "carol (merge)", 60_000);
    const res = await fetch(`${ui.url}/ui/locks/unlock`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${TOKEN}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "text/html",
      },
      body: new URLSearchParams({ repo: other, stack: "db", host: "h1" }).toString(),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain(
      "the UI token may not unlock in other/repo (STACKPILOT_UI_TOKEN_WRITE)",
    );
    expect(await store.getLock(key)).toBeDefined();
  });

  it("streams a running deployment's commands as they are recorded, then its end", async () => {
    const id = await store.createDeployment({
      repo: REPO,
      stack: "api",
      host: "h1",
      commit: SHA,
      fingerprint: "f3",
      actor: "alice",
      trigger: "command",
    });
    await store.startDeployment(id);
    await store.appendCommandLog(id, { command: "first", code: 0, output: "one" });
    const page = await (
      await fetch(`${ui.url}/ui/deployments/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    expect(page).toContain('data-after="1"');
    expect(page).toContain('<meta http-equiv="refresh" content="5">');
    const res = await fetch(`${ui.url}/ui/deployments/${id}/events?after=1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const until = async (what: string) => {
      while (!text.includes(what)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${what}: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    await until("event: status");
    expect(text).toContain('event: status\ndata: {"status":"running","word":"running","tone":"run"}');
    expect(text).not.toContain("first");
    await store.appendCommandLog(id, { command: "second", code: 0, output: "two\nlines" });
    await until('"command":"second"');
    expect(text).toContain(
      'id: 2\nevent: log\ndata: {"seq":2,"command":"second","code":0,"output":"two\\nlines"}',
    );
    await store.appendCommandLog(id, { command: "third", code: 1, output: "" });
    await store.finishDeployment(id, { status: "failed", error: "third failed" });
    await until("event: end");
    expect(text).toContain('"command":"third"');
    expect(text).toMatch(
      /event: end\ndata: \{"status":"failed","word":"failed","tone":"bad","error":"third failed","started":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC","finished":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"\}\n/,
    );
    expect((await reader.read()).done).toBe(true);
  });
});
