// Drift on real hosts, through the App: a push deploys a stack whose default-branch rules say
// `drift: { every: 30s, heal: true }`; a container removed by hand on one host and stopped on the
// other is found by the App's drift round, told to a signed webhook receiver on loopback, and
// healed by redeploying the recorded release; the next check finds both in sync.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import { signature } from "../../src/notify/channels.ts";
import type { Message } from "../../src/notify/message.ts";
import type { DriftCheck } from "../../src/state/drift.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { testProbot } from "../helpers/probot.ts";
import { aboutRepo, examplePayload, sign } from "../helpers/webhooks.ts";
import { buildDriftRepo } from "./driftRepo.ts";
import { type Harness, hostEntry, startHarness } from "./harness/harness.ts";

const SECRET = "e2e-secret";
const HOOK_SECRET = "e2e-notify-secret";
const REPO = "acme/drifty";

let h: Harness;
let tmp: string;
let repoDir: string;
let gitServer: GitHttpServer;
let services: Services;
let server: Awaited<ReturnType<typeof startServer>>;
let receiver: Server;
/** What the webhook channel received, signatures checked. */
const received: Message[] = [];
const badSignatures: string[] = [];

const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();

beforeAll(async () => {
  h = await startHarness({ hosts: 2 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-drift-"));
  repoDir = join(tmp, "repo");
  mkdirSync(repoDir);
  buildDriftRepo(repoDir, { stack: "web", service: "web", heal: true, deployOn: "merge" });
  gitServer = await startGitHttpServer({ token: "ghs_e2e" });
  execFileSync("git", ["push", "-q", "--mirror", gitServer.createRepo(REPO).bareDir], { cwd: repoDir });
  const gheEnv = { GHE_HOST: new URL(gitServer.url).host, GHE_PROTOCOL: "http" };
  const API = githubHost(gheEnv).apiUrl;

  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const sig = String(req.headers["x-stackpilot-signature-256"]);
      if (sig !== signature(HOOK_SECRET, body)) badSignatures.push(sig);
      else received.push(JSON.parse(body) as Message);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const port = (receiver.address() as { port: number }).port;
  process.env.SP_E2E_NOTIFY_SECRET = HOOK_SECRET;

  const hostsFile = join(tmp, "hosts.yml");
  writeFileSync(
    hostsFile,
    JSON.stringify({
      hosts: h.hosts.map((t) => hostEntry(t)),
      notifications: [
        {
          type: "webhook",
          name: "ops",
          url: `http://127.0.0.1:${port}/hook`,
          secret: { env: "SP_E2E_NOTIFY_SECRET" },
        },
      ],
    }),
  );

  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const api = nock(API).persist();
  api
    .post(/\/app\/installations\/\d+\/access_tokens/)
    .reply(201, { token: "ghs_e2e", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
  api.post(`/repos/${REPO}/check-runs`).reply(201, { id: 1, html_url: `https://github.com/${REPO}/runs/1` });
  api.patch(/\/check-runs\/\d+/).reply(200, { id: 1 });
  api.post(`/repos/${REPO}/deployments`).reply(201, { id: 1 });
  api.post(/\/deployments\/\d+\/statuses/).reply(201, { id: 1 });
  api.get(/\/commits\/[0-9a-f]{40}\/pulls/).reply(200, []);
  // The drift loop reads the repository's default branch and clone URL with the installation's token.
  api.get(`/repos/${REPO}`).reply(200, {
    full_name: REPO,
    default_branch: "main",
    clone_url: gitServer.cloneUrl(REPO),
  });

  services = await createServices(
    parseEnv({
      STACKPILOT_DATA_DIR: join(tmp, "data"),
      STACKPILOT_HOSTS_FILE: hostsFile,
      STACKPILOT_APP_SLUG: "stackpilot",
      WEBHOOK_SECRET: SECRET,
      ...gheEnv,
    }),
  );
  const probot = testProbot({ secret: SECRET, baseUrl: API });
  server = await startServer(services, { probot, secret: SECRET });
}, 180_000);

afterAll(async () => {
  await server?.close();
  await services?.stop();
  await gitServer?.close();
  await new Promise((r) => receiver?.close(r));
  await h?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
  delete process.env.SP_E2E_NOTIFY_SECRET;
  rmSync(tmp, { recursive: true, force: true });
});

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const checks = async (): Promise<Record<string, DriftCheck>> =>
  Object.fromEntries((await services.store.listDriftChecks(REPO)).map((c) => [c.host, c]));

/** The web container on a host: `name status`, or undefined when there is none. */
async function webContainer(host: string): Promise<{ name: string; status: string } | undefined> {
  const out = (
    await h.docker(host, [
      "ps",
      "-a",
      "--filter",
      "label=com.docker.compose.project=web",
      "--format",
      "{{.Names}} {{.State}}",
    ])
  ).stdout.trim();
  if (!out) return undefined;
  const [name, status] = out.split(" ") as [string, string];
  return { name, status };
}

describe("drift on real hosts", () => {
  it("finds a container removed and one stopped by hand, tells the webhook once each, and heals both to the recorded release", async () => {
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
        "x-github-delivery": "drift-push-1",
        "x-hub-signature-256": sign(body, SECRET),
      },
      body,
    });
    expect(res.status).toBe(200);
    const head = git("rev-parse", "HEAD");

    // The deploy, then a round that finds both targets as deployed (rounds every 30 s).
    const inSync = await waitFor(
      "both targets checked in sync",
      async () => {
        const c = await checks();
        return c.h1?.state === "in_sync" && c.h2?.state === "in_sync" ? c : undefined;
      },
      240_000,
    );
    expect(inSync.h1?.commit).toBe(head);
    const before = { h1: await webContainer("h1"), h2: await webContainer("h2") };
    expect(before.h1?.status).toBe("running");
    expect(before.h2?.status).toBe("running");
    const deploysBefore = await services.store.listDeployments({ repo: REPO, limit: 100 });
    expect(deploysBefore.map((d) => `${d.host} ${d.trigger} ${d.status}`).sort()).toEqual([
      "h1 merge succeeded",
      "h2 merge succeeded",
    ]);

    // By hand: h1's container removed, h2's stopped.
    await h.docker("h1", ["rm", "-f", String(before.h1?.name)]);
    await h.docker("h2", ["stop", "-t", "1", String(before.h2?.name)]);

    // The next rounds find the drift (due 30 s after the last check), heal, and check again.
    const heals = await waitFor(
      "a successful heal on both hosts",
      async () => {
        const all = await services.store.listDeployments({ repo: REPO, limit: 100 });
        const ok = all.filter((d) => d.trigger === "heal" && d.status === "succeeded");
        return new Set(ok.map((d) => d.host)).size === 2 ? ok : undefined;
      },
      300_000,
    );
    for (const d of heals) expect(d.commit).toBe(head);
    // Checked again after the heal, in the same round: in sync (a heal state is cleared then).
    const healedAt = Math.max(...heals.map((d) => d.finishedAt?.getTime() ?? Number.POSITIVE_INFINITY));
    const after = await waitFor(
      "both targets checked in sync after their heal",
      async () => {
        const c = await checks();
        const fresh = (x: DriftCheck | undefined) =>
          x?.state === "in_sync" && x.checkedAt.getTime() >= healedAt - 1_000;
        return fresh(c.h1) && fresh(c.h2) ? c : undefined;
      },
      120_000,
    );
    expect(after.h1?.commit).toBe(head);
    expect(after.h2?.heal).toBeNull();
    // Prometheus sees the last round: both in sync (0), both hosts up.
    const scraped = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(scraped).toMatch(/^stackpilot_drift\{stack="web",host="h1"\} 0$/m);
    expect(scraped).toMatch(/^stackpilot_drift\{stack="web",host="h2"\} 0$/m);
    expect(scraped).toMatch(/^stackpilot_host_up\{host="h1"\} 1$/m);
    expect((await webContainer("h1"))?.status).toBe("running");
    expect((await webContainer("h2"))?.status).toBe("running");

    // Told: drift found on each host (what differs, in words), then back in sync; signed bodies.
    const drifts = await waitFor(
      "the drift and resolved notifications",
      async () => {
        const d = received.filter((m) => m.event === "drift");
        return d.filter((m) => m.phase === "resolved").length >= 2 ? d : undefined;
      },
      60_000,
    );
    expect(badSignatures).toEqual([]);
    const alerts = drifts.filter((m) => m.phase === "alert");
    expect(alerts.map((m) => m.host).sort()).toEqual(["h1", "h2"]);
    expect(alerts.find((m) => m.host === "h1")?.details).toContain("web: no container");
    expect(alerts.find((m) => m.host === "h2")?.details.join("\n")).toMatch(
      /^web: not running \(exited \d+\)$/m,
    );
    expect(received.filter((m) => m.event === "heal_failed")).toEqual([]);
  }, 900_000);
});
