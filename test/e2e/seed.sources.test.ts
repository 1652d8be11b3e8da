// Issue 13's seed scenario through the App onto a real host, in order: an app repository whose
// stacks bind-mount a tools library from a git submodule (relative URL) and read an env file from
// a second repository at main (a source). Real push payloads through Probot, GitHub simulated by
// nock, every repository served over real smart HTTP, deploys over real SSH to a host with its own
// Docker engine. The web stack's post_sync hook fetches an extra file over HTTP with a timeout;
// later commits give it a pre_deploy that hangs past its timeout, then a flaky one.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { type Probot, ProbotOctokit } from "probot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { SshPool } from "../../src/deploy/ssh/pool.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { MirrorCache } from "../../src/git/mirror.ts";
import { openStore, type Store } from "../../src/state/store.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { isRunning } from "../helpers/processes.ts";
import { answerRollouts, recordedApi } from "../helpers/recordedApi.ts";
import { loadTestApp } from "../helpers/testApp.ts";
import { aboutRepo, examplePayload } from "../helpers/webhooks.ts";
import { containersOn, insideContainer } from "./harness/containers.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness, type TestHost } from "./harness/harness.ts";

const API = "https://api.github.com";
const FILE = ["-c", "protocol.file.allow=always"];
/** A sleep no other process on this machine runs: the hanging hook's children, found by it. */
const HANG = "sleep 317";

let h: Harness;
let host: TestHost;
let tmp: string;
let git: GitHttpServer;
let extras: Server;
let extrasUrl: string;
let app: RemoteRepo;
let tools: RemoteRepo;
let utils: RemoteRepo;
let store: Store;
let pool: SshPool;
let probot: Probot;
const jobs: Promise<void>[] = [];
const { requests, api } = recordedApi(API);
let seq = 0;

const config = (preDeploy = "") => `environments:
  production: { hosts: [h1], deploy_on: merge }
defaults: { environment: production }
sources:
  utils: { repository: acme/utils, ref: main, path: vendor/utils }
stacks:
  - name: web
    hooks:
      post_sync: { script: stacks/web/fetch-extras.sh, timeout: 20s }
${preDeploy}`;

/** Fetches the extra file into the new release (bounded by wget's own timeout and the hook's), and counts its runs. */
const FETCH_EXTRAS = `#!/bin/sh
set -e
echo "$STACKPILOT_COMMIT" >> "$HOME/post_sync.count"
wget -q -T 10 -O "$STACKPILOT_RELEASE_DIR/stacks/web/extra.txt" "$EXTRAS_URL/extra.txt"
`;

const containers = () => containersOn(h, host);
const inside = (service: string, argv: string[]) => insideContainer(h, host, service, argv);

const current = async (stack: string) =>
  (await h.exec(host, ["readlink", stackPaths(host.deployRoot, stack).current])).stdout.trim();
const postSyncRuns = async () =>
  (await h.exec(host, ["cat", `${host.home}/post_sync.count`])).stdout.trim().split("\n").filter(Boolean);

/** A push of `before..after` to `repo`'s main, run to the end with the jobs it queues. */
async function push(repo: RemoteRepo, before: string, after: string): Promise<void> {
  const payload = aboutRepo(examplePayload("push"), {
    fullName: repo.fullName,
    cloneUrl: git.cloneUrl(repo.fullName),
  });
  Object.assign(payload, { ref: "refs/heads/main", before, after, deleted: false, forced: false });
  await probot.receive({ id: `seed-push-${++seq}`, name: "push", payload } as never);
  for (let n = -1; n !== jobs.length; ) {
    n = jobs.length;
    await Promise.all(jobs);
  }
}

/** The App's deployments of the app repository, oldest first. */
const deployments = async () => (await store.listDeployments({ repo: "acme/app", limit: 100 })).reverse();

/** The check-run bodies posted or updated since `from` (an index into the recorded requests), as JSON text. */
const checkRunsSince = (from: number) =>
  requests
    .slice(from)
    .filter((r) => r.path.includes("/check-runs"))
    .map((r) => JSON.stringify(r.body));

beforeAll(async () => {
  h = await startHarness({ hosts: 1 });
  host = h.host("h1");
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-seed-"));

  // The extra file the post_sync hook fetches, served on the harness bridge (the registry's address).
  const bridge = h.registry.address.split(":")[0] as string;
  extras = createServer((req, res) => {
    if (req.url === "/extra.txt") res.end("extra from the side\n");
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => extras.listen(0, bridge, resolve));
  const port = (extras.address() as { port: number }).port;
  extrasUrl = `http://${bridge}:${port}`;

  git = await startGitHttpServer({ token: "ghs_test" });
  tools = git.createRepo("acme/tools");
  tools.commit({ "lib/a.sh": "a1\n", "lib/b.sh": "b1\n", "lib/unused.sh": "never uploaded\n" });
  utils = git.createRepo("acme/utils");
  utils.commit({ "conf/app.env": "LEVEL=1\n" });
  app = git.createRepo("acme/app");
  app.work.git(...FILE, "submodule", "add", "-q", tools.bareDir, "vendor/tools");
  app.work.git("config", "-f", ".gitmodules", "submodule.vendor/tools.url", "../tools.git");
  const image = `image: ${h.image}`;
  app.work
    .write({
      ".github/stackpilot.yml": config(),
      "stacks/web/compose.yaml": sleeperCompose("web", [
        image,
        "volumes: ['../../vendor/tools/lib/a.sh:/tool.sh:ro']",
      ]),
      "stacks/web/fetch-extras.sh": FETCH_EXTRAS.replace("$EXTRAS_URL", extrasUrl),
      "stacks/api/compose.yaml": sleeperCompose("api", [
        image,
        "volumes: ['../../vendor/tools/lib/b.sh:/tool.sh:ro']",
      ]),
      "stacks/cfg/compose.yaml": sleeperCompose("cfg", [image, "env_file: ../../vendor/utils/conf/app.env"]),
    })
    .chmod("stacks/web/fetch-extras.sh", 0o755);
  app.commit({}, "app");

  nock.disableNetConnect();
  store = await openStore({ dataDir: join(tmp, "data") });
  const hosts = [HostSchema.parse(hostEntry(host))];
  pool = new SshPool(hosts, { dataDir: join(tmp, "data") });
  probot = await loadTestApp({
    Octokit: ProbotOctokit.defaults((o: object) => ({
      ...o,
      retry: { enabled: false },
      throttle: { enabled: false },
    })),
    deps: {
      store,
      mirrors: new MirrorCache({ dir: join(tmp, "mirrors"), maxBytes: 1 << 30, allowedOrigin: git.url }),
      hosts,
      remote: pool,
      cache: new ParseCache(),
      appSlug: "stackpilot",
      installationId: "seed",
      engine: { healthTimeoutMs: 60_000 },
    },
    onJob: (run) => jobs.push(run),
  });
  // Any number of each: the scenario checks what was deployed and what the checks said.
  answerRollouts(api(), "ghs_test");
}, 300_000);

afterAll(async () => {
  nock.cleanAll();
  nock.enableNetConnect();
  await pool?.close();
  await store?.close();
  await git?.close();
  await new Promise((resolve) => extras?.close(resolve));
  await h?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("the seed scenario: a submodule, a source repository and hooks, through the App on a real host", () => {
  let first = "";
  let bumped = "";
  let hang = "";

  it("deploys every stack; post_sync fetches its extra file into the release once", async () => {
    first = app.work.head();
    await push(app, "0".repeat(40), first);
    const done = await deployments();
    expect(done.map((d) => `${d.stack}:${d.status}`).sort()).toEqual([
      "api:succeeded",
      "cfg:succeeded",
      "web:succeeded",
    ]);
    expect(await inside("web", ["cat", "/tool.sh"])).toBe("a1\n");
    expect(await inside("cfg", ["env"])).toMatch(/^LEVEL=1$/m);
    expect(await postSyncRuns()).toEqual([first]);
    const extra = `${stackPaths(host.deployRoot, "web").current}/stacks/web/extra.txt`;
    expect((await h.exec(host, ["cat", extra])).stdout).toBe("extra from the side\n");
  });

  it("redeploys only the stack using the changed file when the submodule pointer moves", async () => {
    const before = await containers();
    const t2 = tools.commit({ "lib/a.sh": "a2\n", "lib/unused.sh": "still never uploaded\n" });
    app.work.git("-C", "vendor/tools", "fetch", "-q", "origin");
    app.work.git("-C", "vendor/tools", "checkout", "-q", t2);
    const from = requests.length;
    bumped = app.commit({}, "bump tools");
    await push(app, first, bumped);
    const done = (await deployments()).slice(3);
    expect(done.map((d) => `${d.stack}:${d.status}`)).toEqual(["web:succeeded"]);
    const after = await containers();
    expect(after.web).not.toBe(before.web);
    expect(after.api).toBe(before.api);
    expect(after.cfg).toBe(before.cfg);
    expect(await inside("web", ["cat", "/tool.sh"])).toBe("a2\n");
    const plan = checkRunsSince(from).join("\n");
    expect(plan).toContain("vendor/tools/lib/a.sh modified");
    expect(plan).not.toContain("lib/unused.sh");
    expect(await postSyncRuns()).toEqual([first, bumped]);
  });

  it("redeploys the dependent stack of the app repository when the source repository is pushed", async () => {
    const before = await containers();
    const u1 = utils.work.head();
    const from = requests.length;
    const u2 = utils.commit({ "conf/app.env": "LEVEL=2\n" });
    await push(utils, u1, u2);
    const done = (await deployments()).slice(4);
    expect(done.map((d) => `${d.stack}:${d.status}`)).toEqual(["cfg:succeeded"]);
    expect(await store.deploymentSources(done[0]?.id as number)).toEqual([
      { name: "utils", repository: "acme/utils", commit: u2 },
    ]);
    const after = await containers();
    expect(after.cfg).not.toBe(before.cfg);
    expect(after.web).toBe(before.web);
    expect(after.api).toBe(before.api);
    expect(await inside("cfg", ["env"])).toMatch(/^LEVEL=2$/m);
    // The app repository's plan names the source's move (markdown: ">" escaped).
    expect(checkRunsSince(from).join("\n")).toContain(
      `source utils: ${u1.slice(0, 7)} -\\\\> ${u2.slice(0, 7)} (1 file)`,
    );
    expect(await postSyncRuns()).toEqual([first, bumped]);
  });

  it("kills a pre_deploy hook sleeping past its timeout with its process group; the deploy fails and switches nothing", async () => {
    const running = await containers();
    const was = await current("web");
    const from = requests.length;
    hang = app.commit(
      {
        ".github/stackpilot.yml": config(
          `      pre_deploy: { run: [sh, -c, '${HANG} & echo $! >> "$HOME/hang.pids"; ${HANG} & echo $! >> "$HOME/hang.pids"; wait'], timeout: 2s }\n`,
        ),
      },
      "web: a pre_deploy that hangs",
    );
    const t0 = performance.now();
    await push(app, bumped, hang);
    const elapsed = performance.now() - t0;
    const done = (await deployments()).slice(5);
    expect(done.map((d) => `${d.stack}:${d.status}`)).toEqual(["web:failed"]);
    expect(done[0]?.error).toMatch(/pre_deploy hook timed out after 2 s/);
    expect(await current("web")).toBe(was);
    expect((await containers()).web).toBe(running.web);
    // Both sleeps the hook started (and waited on) were killed with its process group (the hosts
    // share this machine's pid namespace).
    const pids = (await h.exec(host, ["cat", `${host.home}/hang.pids`])).stdout.trim().split("\n");
    expect(pids).toHaveLength(2);
    expect(pids.filter(isRunning)).toEqual([]);
    // Nor is any other `sleep 317` left running there (a zombie awaiting its reaper is not running).
    const ps = await h.exec(host, ["ps", "-eo", "stat=,args="]);
    const sleeping = ps.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => !l.startsWith("Z") && l.endsWith(` ${HANG}`));
    expect(sleeping).toEqual([]);
    expect(elapsed).toBeLessThan(90_000);
    // post_sync ran (before the switch) for this deploy too, and only once.
    expect(await postSyncRuns()).toEqual([first, bumped, hang]);
    const checks = checkRunsSince(from).join("\n");
    // The plan names the hook the commit adds; the deploy check run shows the attempt.
    // (markdown in JSON: "_" escaped, the backslash doubled).
    expect(checks).toContain("hooks changed: pre\\\\_deploy added");
    expect(checks).toContain("**new** `web`: will run pre\\\\_deploy");
    expect(checks).toMatch(/`pre_deploy` attempt 1: timed out/);
  });

  it("runs a flaky pre_deploy hook again after its first attempt fails, and the deploy succeeds", async () => {
    app.work
      .write({
        ".github/stackpilot.yml": config(
          "      pre_deploy: { script: stacks/web/flaky.sh, timeout: 10s, retries: 1, backoff: 1s }\n",
        ),
        "stacks/web/flaky.sh":
          '#!/bin/sh\nif [ "$STACKPILOT_HOOK_ATTEMPT" -lt 2 ]; then echo "not yet (attempt $STACKPILOT_HOOK_ATTEMPT)" >&2; exit 1; fi\necho ready\n',
      })
      .chmod("stacks/web/flaky.sh", 0o755);
    const flaky = app.commit({}, "web: a flaky pre_deploy");
    await push(app, hang, flaky);
    const done = (await deployments()).slice(6);
    expect(done.map((d) => `${d.stack}:${d.status}`)).toEqual(["web:succeeded"]);
    expect(await current("web")).toBe(`releases/${flaky}`);
    const runs = await store.listHookRuns(done[0]?.id as number);
    expect(runs.map((r) => [r.hook, r.attempt, r.status])).toEqual([
      ["post_sync", 1, "succeeded"],
      ["pre_deploy", 1, "failed"],
      ["pre_deploy", 2, "succeeded"],
    ]);
    expect(runs[1]?.output).toContain("not yet (attempt 1)");
    expect(await postSyncRuns()).toEqual([first, bumped, hang, flaky]);
  });
});
