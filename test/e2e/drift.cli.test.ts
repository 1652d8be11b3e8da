// Drift of a repository only the CLI deployed: `stackpilot deploy` records into the App's
// PostgreSQL database (DATABASE_URL) from a checkout whose origin names `acme/clidrift`; no rollout
// names an installation for it, so the App asks GitHub which installation the repository has,
// reads its default branch's rules (`drift: { every: 30s }`) and checks the target on a real host:
// in sync, then drifted once its container is stopped by hand. Nothing is healed (`heal: false`).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubHost } from "../../src/github/api/githubHost.ts";
import { createServices, parseEnv, type Services, startServer } from "../../src/github/server.ts";
import type { DriftCheck } from "../../src/state/drift.ts";
import { deployArgs, runCli } from "../helpers/cli.ts";
import { type GitHttpServer, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { type PostgresServer, startPostgres } from "../helpers/postgresServer.ts";
import { testProbot } from "../helpers/probot.ts";
import { waitFor } from "../helpers/serverProcess.ts";
import { buildDriftRepo } from "./driftRepo.ts";
import { type Harness, hostEntry, startHarness } from "./harness/harness.ts";

const SECRET = "e2e-secret";
const REPO = "acme/clidrift";
const INSTALLATION = 4242;

let h: Harness;
let tmp: string;
let repoDir: string;
let hostsFile: string;
let databaseUrl: string;
let postgres: PostgresServer;
let gitServer: GitHttpServer;
let services: Services | undefined;
let server: Awaited<ReturnType<typeof startServer>> | undefined;
/** What the simulated GitHub was asked for the installation of the repository. */
let installationLookups = 0;

const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();

beforeAll(async () => {
  h = await startHarness({ hosts: 1 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-clidrift-"));
  repoDir = join(tmp, "repo");
  mkdirSync(repoDir);
  buildDriftRepo(repoDir, { stack: "clidrift", service: "app", heal: false });
  gitServer = await startGitHttpServer({ token: "ghs_e2e" });
  const bare = gitServer.createRepo(REPO).bareDir;
  execFileSync("git", ["push", "-q", "--mirror", bare], { cwd: repoDir });
  // The checkout's origin names the repository: the CLI records it as `acme/clidrift`. (Never
  // fetched here: the git server runs in this process, which execFileSync would block.)
  git("remote", "add", "origin", gitServer.cloneUrl(REPO));
  hostsFile = join(tmp, "hosts.yml");
  writeFileSync(hostsFile, JSON.stringify({ hosts: h.hosts.map((t) => hostEntry(t)) }));
  postgres = await startPostgres();
  databaseUrl = await postgres.createDatabase();
}, 180_000);

afterAll(async () => {
  await server?.close();
  await services?.stop();
  await gitServer?.close();
  await postgres?.stop();
  await h?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
  rmSync(tmp, { recursive: true, force: true });
});

async function startApp(): Promise<Services> {
  const gheEnv = { GHE_HOST: new URL(gitServer.url).host, GHE_PROTOCOL: "http" };
  const API = githubHost(gheEnv).apiUrl;
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  const api = nock(API).persist();
  api.get(`/repos/${REPO}/installation`).reply(200, () => {
    installationLookups++;
    return { id: INSTALLATION };
  });
  api
    .post(`/app/installations/${INSTALLATION}/access_tokens`)
    .reply(201, { token: "ghs_e2e", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
  api.get(`/repos/${REPO}`).reply(200, {
    full_name: REPO,
    name: "clidrift",
    owner: { login: "acme" },
    default_branch: "main",
    clone_url: gitServer.cloneUrl(REPO),
  });
  const started = await createServices(
    parseEnv({
      DATABASE_URL: databaseUrl,
      STACKPILOT_DATA_DIR: join(tmp, "app-data"),
      STACKPILOT_HOSTS_FILE: hostsFile,
      STACKPILOT_APP_SLUG: "stackpilot",
      WEBHOOK_SECRET: SECRET,
      ...gheEnv,
    }),
  );
  services = started;
  const probot = testProbot({ secret: SECRET, baseUrl: API });
  server = await startServer(started, { probot, secret: SECRET });
  return started;
}

describe("drift of a repository only the CLI deployed", () => {
  it("is checked by the App with the installation GitHub names for it: in sync, then drifted", async () => {
    mkdirSync(join(tmp, "cli-data"));
    process.env.DATABASE_URL = databaseUrl;
    try {
      const deployed = await runCli(
        ...deployArgs({ repo: repoDir, hosts: hostsFile, data: join(tmp, "cli-data"), healthTimeoutS: 60 }),
      );
      expect(deployed.code, deployed.err).toBe(0);
    } finally {
      delete process.env.DATABASE_URL;
    }
    const head = git("rev-parse", "HEAD");

    const app = await startApp();
    // Recorded by the CLI: no rollout, so no installation of its own.
    expect((await app.store.deployedInstallations()).filter((r) => r.repo === REPO)).toEqual([
      { repo: REPO, installationId: null },
    ]);
    const check = async (): Promise<DriftCheck | undefined> =>
      (await app.store.listDriftChecks(REPO)).find((c) => c.stack === "clidrift" && c.host === "h1");
    const inSync = await waitFor(
      async () => ((await check())?.state === "in_sync" ? check() : undefined),
      120_000,
      "the CLI's target checked in sync",
    );
    expect(inSync?.commit).toBe(head);
    expect(installationLookups).toBeGreaterThan(0);

    // By hand: its container stopped. The next round (every 30 s) finds it, and heals nothing.
    const name = (
      await h.docker("h1", ["ps", "-q", "--filter", "label=com.docker.compose.project=clidrift"])
    ).stdout.trim();
    expect(name).not.toBe("");
    await h.docker("h1", ["stop", "-t", "1", name]);
    const drifted = await waitFor(
      async () => ((await check())?.state === "drifted" ? check() : undefined),
      120_000,
      "the CLI's target found drifted",
    );
    expect(drifted?.details.join("; ")).toMatch(/not running/);
    const heals = (await app.store.listDeployments({ repo: REPO, limit: 100 })).filter(
      (d) => d.trigger === "heal",
    );
    expect(heals).toEqual([]);
  }, 400_000);
});
