// Submodules and sources through the App, end to end: real push payloads through Probot, GitHub
// simulated by nock, every repository served over real smart HTTP (one token for all of them),
// deploys on a host faked on this machine (fakeHost.ts). The app repository bind-mounts a tools
// library from a submodule (relative URL) and reads an env file from a source repository at main.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { answerRollouts, recordedApi } from "../helpers/recordedApi.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { aboutRepo, examplePayload } from "../helpers/webhooks.ts";
import { type FakeHost, fakeHost } from "./fakeHost.ts";

const API = "https://api.github.com";
const FILE = ["-c", "protocol.file.allow=always"];
const CONFIG = `environments:
  production: { hosts: [app1], deploy_on: merge }
defaults: { environment: production }
sources:
  utils: { repository: acme/utils, ref: main, path: vendor/utils }
`;
const mount = (service: string, path: string) =>
  `services:\n  ${service}:\n    image: nginx\n    volumes:\n      - ${path}:/x\n`;

let tmp: string;
let server: GitHttpServer;
let app: RemoteRepo;
let tools: RemoteRepo;
let utils: RemoteRepo;
let ops: RemoteRepo;
let store: Store;
let host: FakeHost;
let probot: Probot;
let jobs: Promise<void>[];
const { requests, api } = recordedApi(API);
let seq = 0;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-sources-"));
  server = await startGitHttpServer({ token: "ghs_test" });
  tools = server.createRepo("acme/tools");
  tools.commit({ "lib/a.sh": "echo a1\n", "lib/b.sh": "echo b1\n" });
  utils = server.createRepo("acme/utils");
  utils.commit({ "conf/app.env": "LEVEL=1\n" });
  app = server.createRepo("acme/app");
  app.work.git(...FILE, "submodule", "add", "-q", tools.bareDir, "vendor/tools");
  // As people write it: next to the app on the same GitHub.
  app.work.git("config", "-f", ".gitmodules", "submodule.vendor/tools.url", "../tools.git");
  app.commit({
    ".github/stackpilot.yml": CONFIG,
    "stacks/web/compose.yaml": mount("web", "../../vendor/tools/lib/a.sh"),
    "stacks/api/compose.yaml": mount("api", "../../vendor/tools/lib/b.sh"),
    "stacks/cfg/compose.yaml":
      "services:\n  cfg:\n    image: nginx\n    env_file: ../../vendor/utils/conf/app.env\n",
  });
  // A second user of the same source, whose default branch deploys only on command.
  ops = server.createRepo("acme/ops");
  ops.commit({
    ".github/stackpilot.yml": CONFIG.replace("deploy_on: merge", "deploy_on: command"),
    "stacks/ops/compose.yaml":
      "services:\n  ops:\n    image: nginx\n    env_file: ../../vendor/utils/conf/app.env\n",
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  nock.disableNetConnect();
  jobs = [];
  requests.length = 0;
  const dir = mkdtempSync(join(tmp, "run-"));
  store = await openStore({ dataDir: join(dir, "data") });
  host = fakeHost(join(dir, "host"));
  probot = await loadTestApp({
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
    deps: {
      store,
      mirrors: new MirrorCache({ dir: join(dir, "mirrors"), maxBytes: 1 << 30, allowedOrigin: server.url }),
      hosts: [
        HostSchema.parse({ name: "app1", address: "192.0.2.10", compose: "docker-compose", root: host.root }),
      ],
      remote: host,
      cache: new ParseCache(),
      appSlug: "stackpilot",
      installationId: "test",
      engine: { healthTimeoutMs: 5_000, healthPollMs: 50 },
    },
    onJob: (run) => jobs.push(run),
  });
  // Any number of each: these tests check what was deployed and planned, not GitHub's calls.
  answerRollouts(api(), "ghs_test");
}, 180_000);

afterEach(async () => {
  nock.cleanAll();
  nock.enableNetConnect();
  await store.close();
});

/** A push of `before..after` to `repo`'s main, run to the end (with the jobs it queues). */
async function push(repo: RemoteRepo, before: string, after: string): Promise<void> {
  const payload = aboutRepo(examplePayload("push"), {
    fullName: repo.fullName,
    cloneUrl: server.cloneUrl(repo.fullName),
  });
  Object.assign(payload, { ref: "refs/heads/main", before, after, deleted: false, forced: false });
  await probot.receive({ id: `push-${++seq}`, name: "push", payload } as never);
  // A job may queue more (a source's push plans its users): wait for those too.
  for (let n = -1; n !== jobs.length; ) {
    n = jobs.length;
    await Promise.all(jobs);
  }
}

/** The plan check runs posted to a repository, as text. */
const planChecks = (repo: string) =>
  requests
    .filter(
      (r) =>
        r.method === "POST" && r.path === `/repos/${repo}/check-runs` && r.body?.name === "stackpilot/plan",
    )
    .map((r) => JSON.stringify(r.body));

const deployedStacks = async () =>
  (await store.listDeployments({ repo: "acme/app", limit: 50 }))
    .filter((d) => d.status === "succeeded")
    .map((d) => d.stack)
    .sort();

/** Files of the release `current` points at, relative to it, without Stackpilot's own. */
function releaseFiles(stack: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      if (rel === "" && name.name === ".stackpilot") continue;
      if (name.isDirectory()) walk(join(dir, name.name), `${rel}${name.name}/`);
      else out.push(`${rel}${name.name}`);
    }
  };
  walk(join(host.root, stack, "current"), "");
  return out.sort();
}

describe("submodules and sources in the App", () => {
  it("deploys releases holding exactly the submodule and source files each stack uses; a pointer move redeploys only its user; a source push redeploys its user in the other repository and only plans a user whose default branch deploys on command", async () => {
    const first = app.work.head();
    await push(app, "0".repeat(40), first);
    expect(await deployedStacks()).toEqual(["api", "cfg", "web"]);
    expect(releaseFiles("web")).toEqual(["stacks/web/compose.yaml", "vendor/tools/lib/a.sh"]);
    expect(releaseFiles("api")).toEqual(["stacks/api/compose.yaml", "vendor/tools/lib/b.sh"]);
    expect(releaseFiles("cfg")).toEqual(["stacks/cfg/compose.yaml", "vendor/utils/conf/app.env"]);
    expect(readFileSync(join(host.root, "web/current/vendor/tools/lib/a.sh"), "utf8")).toBe("echo a1\n");
    await push(ops, "0".repeat(40), ops.work.head());
    expect(planChecks("acme/ops")).toHaveLength(1);
    // The sources the default branch read, indexed for the source's pushes.
    expect((await store.sourceDependents("acme/utils", "main", true)).map((d) => d.repo).sort()).toEqual([
      "acme/app",
      "acme/ops",
    ]);

    // The tools library changes a.sh; the app moves its pointer.
    const t2 = tools.commit({ "lib/a.sh": "echo a2\n" });
    app.work.git("-C", "vendor/tools", "fetch", "-q", "origin");
    app.work.git("-C", "vendor/tools", "checkout", "-q", t2);
    const second = app.commit({}, "bump tools");
    await push(app, first, second);
    expect((await deployedStacks()).filter((s) => s === "web")).toEqual(["web", "web"]);
    expect((await deployedStacks()).filter((s) => s !== "web")).toEqual(["api", "cfg"]);
    expect(readFileSync(join(host.root, "web/current/vendor/tools/lib/a.sh"), "utf8")).toBe("echo a2\n");
    const plan = planChecks("acme/app").at(-1) ?? "";
    expect(plan).toContain("vendor/tools/lib/a.sh modified");
    expect(plan).toContain("submodule vendor/tools:");

    // A push to the source repository: the app's cfg stack, which reads the changed file, redeploys.
    const u1 = utils.work.head();
    const u2 = utils.commit({ "conf/app.env": "LEVEL=2\n" });
    await push(utils, u1, u2);
    const cfg = (await store.listDeployments({ repo: "acme/app", limit: 50 })).filter(
      (d) => d.stack === "cfg",
    );
    expect(cfg.map((d) => d.status)).toEqual(["succeeded", "succeeded"]);
    expect(cfg[0]?.commit).toBe(second);
    expect(cfg[0]?.release).toMatch(new RegExp(`^${second}-[0-9a-f]{12}$`));
    expect(await store.deploymentSources(cfg[0]?.id as number)).toEqual([
      { name: "utils", repository: "acme/utils", commit: u2 },
    ]);
    expect(readFileSync(join(host.root, "cfg/current/vendor/utils/conf/app.env"), "utf8")).toBe("LEVEL=2\n");
    expect((await deployedStacks()).filter((s) => s === "cfg")).toHaveLength(2);
    expect((await deployedStacks()).filter((s) => s === "web")).toHaveLength(2);
    // Markdown: ">" escaped.
    expect(planChecks("acme/app").at(-1)).toContain(
      `source utils: ${u1.slice(0, 7)} -\\\\> ${u2.slice(0, 7)} (1 file)`,
    );
    expect((await store.sourceCommits("acme/app")).get("utils")).toBe(u2);
    // The other user is planned too, and deploys nothing: its default branch deploys on command.
    expect(planChecks("acme/ops")).toHaveLength(2);
    expect(planChecks("acme/ops").at(-1)).toContain(`source utils: ${u1.slice(0, 7)}`);
    expect(await store.listDeployments({ repo: "acme/ops", limit: 50 })).toEqual([]);
    expect(existsSync(join(host.root, "ops"))).toBe(false);
  }, 240_000);

  it("a submodule the App cannot read, one off the configured GitHub, and a pointer to a commit that does not exist: plan errors naming each; their users are not deployed", async () => {
    const start = app.work.head();
    const ghost = tools.work.git("commit-tree", "-m", "never pushed", `${tools.work.head()}^{tree}`);
    const at = (path: string, url: string, sha: string) => {
      app.work.git("config", "-f", ".gitmodules", `submodule.${path}.path`, path);
      app.work.git("config", "-f", ".gitmodules", `submodule.${path}.url`, url);
      app.work.git("update-index", "--add", "--cacheinfo", `160000,${sha},${path}`);
    };
    at("vendor/missing", "../missing.git", tools.work.head());
    at("vendor/elsewhere", "https://gitlab.example/acme/tools.git", tools.work.head());
    at("vendor/ghost", "../tools.git", ghost);
    app.work.write({
      "stacks/m/compose.yaml": mount("m", "../../vendor/missing/lib/a.sh"),
      "stacks/e/compose.yaml": mount("e", "../../vendor/elsewhere/lib/a.sh"),
      "stacks/g/compose.yaml": mount("g", "../../vendor/ghost/lib/a.sh"),
    });
    app.work.git("add", ".gitmodules", "stacks");
    app.work.git("commit", "-q", "-m", "three bad submodules");
    const head = app.work.head();
    app.push(`+${head}:refs/heads/main`);
    server.resetCounters();
    await push(app, start, head);

    const plan = planChecks("acme/app").at(-1) ?? "";
    expect(plan).toContain("submodule vendor/missing (acme/missing) cannot be read by the App");
    expect(plan).toContain("not on the configured GitHub");
    expect(plan).toContain(
      `submodule vendor/ghost (acme/tools) points at ${ghost.slice(0, 7)}, which acme/tools does not have`,
    );
    expect(plan).toContain("stacks/g/compose.yaml:5");
    const deployed = await deployedStacks();
    for (const s of ["m", "e", "g"]) expect(deployed).not.toContain(s);
    // Nothing asked of any other origin; the token went to the configured GitHub only.
    expect(server.requests.every((r) => r.authorized || r.status === 401)).toBe(true);
    expect(existsSync(join(host.root, "m"))).toBe(false);
    app.work.git("reset", "-q", "--hard", start);
    app.push(`+${start}:refs/heads/main`);
  }, 240_000);
});
