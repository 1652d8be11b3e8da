/**
 * What the fault tests share: real test hosts, a repository served over smart HTTP with a
 * simulated GitHub Enterprise on the same origin, the App as its own process (so it can be
 * killed), and the checks every row of the fault table makes: no record lost (every deployment
 * and rollout ended, every GitHub Deployment and check run finished), no duplicate deploy (one
 * successful deployment per target and commit), and final states consistent (what each host runs
 * is what the state store says it runs).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { stackPaths } from "../../../src/deploy/commands/paths.ts";
import type { Deployment } from "../../../src/state/deployments.ts";
import type { Store } from "../../../src/state/store.ts";
import type { AppProcess } from "../../helpers/appProcess.ts";
import { type FakeGitHub, fakeGitHub } from "../../helpers/fakeGitHub.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../../helpers/gitHttpServer.ts";
import { aboutRepo, examplePayload, prCommentPayload } from "../../helpers/webhooks.ts";
import { type Harness, hostEntry, startHarness } from "../harness/harness.ts";

export const REPO = "acme/faults";

/** The stack the faults hit: healthy only seconds after it starts, so a deploy can be cut inside. */
export const slowCompose = (image: string, version: string, startupS = 5) =>
  [
    "services:",
    "  slow:",
    `    image: ${image}`,
    "    init: true",
    "    stop_grace_period: 1s",
    `    command: ["sh", "-c", "sleep ${startupS}; touch /tmp/ok; exec sleep 3600"]`,
    "    network_mode: none",
    "    environment:",
    `      VERSION: "${version}"`,
    "    healthcheck:",
    '      test: ["CMD", "test", "-f", "/tmp/ok"]',
    "      interval: 1s",
    "      retries: 60",
    "",
  ].join("\n");

const CONFIG = [
  "version: 1",
  "defaults:",
  "  environment: production",
  "environments:",
  "  production:",
  '    hosts: ["h*"]',
  "    deploy_on: merge",
  "    permission: write",
  "",
].join("\n");

export interface World {
  h: Harness;
  git: GitHttpServer;
  github: FakeGitHub;
  repo: RemoteRepo;
  tmp: string;
  hostsFile: string;
  /** Environment every App process of this world starts with. */
  appEnv(extra: Record<string, string>): Record<string, string>;
  /** A new commit on main changing the slow stack's VERSION (healthy `startupS` after start); the commit id. */
  commitSlow(version: string, branch?: string, startupS?: number): string;
  /** A push event of `before..after` on main. */
  pushPayload(before: string, after: string): Record<string, unknown>;
  /** A PR comment event by a user the simulated GitHub lets write. */
  commentPayload(pr: number, body: string, commentId: number): Record<string, unknown>;
  /** A PR whose head is `sha`, with a successful plan check run on it (what /deploy asks for). */
  openPullRequest(pr: number, sha: string): void;
  close(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const h = await startHarness({ hosts: 2 });
  const tmp = mkdtempSync(join(tmpdir(), "sp-faults-"));
  const github = fakeGitHub();
  const git = await startGitHttpServer({ token: github.token, api: github.handle });
  const repo = git.createRepo(REPO);
  repo.commit(
    { ".github/stackpilot.yml": CONFIG, "stacks/slow/compose.yaml": slowCompose(h.image, "0") },
    "init",
  );
  const hostsFile = join(tmp, "hosts.yml");
  writeFileSync(hostsFile, JSON.stringify({ hosts: h.hosts.map((t) => hostEntry(t)) }));
  const repoRef = { fullName: REPO, cloneUrl: git.cloneUrl(REPO) };
  let planRuns = 0;
  return {
    h,
    git,
    github,
    repo,
    tmp,
    hostsFile,
    appEnv: (extra) => ({
      GHE_HOST: new URL(git.url).host,
      STACKPILOT_HOSTS_FILE: hostsFile,
      ...extra,
    }),
    commitSlow(version, branch = "main") {
      return repo.commit(
        { "stacks/slow/compose.yaml": slowCompose(h.image, version) },
        `slow ${version}`,
        branch,
      );
    },
    pushPayload(before, after) {
      const payload = aboutRepo(examplePayload("push"), repoRef);
      Object.assign(payload, { ref: "refs/heads/main", before, after, deleted: false, forced: false });
      return payload;
    },
    commentPayload(pr, body, commentId) {
      return prCommentPayload({
        repo: repoRef,
        api: `${git.url}/api/v3`,
        pr,
        commentId,
        body,
        user: { login: "octocat", type: "User" },
      });
    },
    openPullRequest(pr, sha) {
      github.setPullRequest(REPO, { number: pr, headSha: sha, headRef: `pr-${pr}` });
      github.setPermission(REPO, "octocat", "write");
      repo.push(`+${sha}:refs/pull/${pr}/head`);
      github.checkRuns.push({
        id: 900_000 + ++planRuns,
        repo: REPO,
        bodies: [],
        state: { name: "stackpilot/plan", head_sha: sha, status: "completed", conclusion: "success" },
      });
    },
    async close() {
      await git.close();
      await h.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Where `current` of the slow stack points on a host (`releases/<sha>`), or "" without one. */
export async function currentOn(w: World, host: string): Promise<string> {
  const t = w.h.host(host);
  return (await w.h.exec(t, ["readlink", stackPaths(t.deployRoot, "slow").current])).stdout.trim();
}

/** The VERSION the slow stack's running container has on a host ("" when none runs). */
export async function runningVersion(w: World, host: string): Promise<string> {
  const ps = await w.h.docker(host, [
    "ps",
    "--filter",
    "label=com.docker.compose.project=slow",
    "--format",
    "{{.ID}}",
  ]);
  const id = ps.stdout.trim().split("\n")[0];
  if (!id) return "";
  const env = await w.h.docker(host, [
    "inspect",
    "--format",
    "{{range .Config.Env}}{{println .}}{{end}}",
    id,
  ]);
  return /^VERSION=(.*)$/m.exec(env.stdout)?.[1] ?? "";
}

/** Kill the App once `current` of the slow stack on h1 names `sha`: inside compose up / the health wait. */
export async function killInsideStep(w: World, app: AppProcess, sha: string): Promise<void> {
  await waitFor("the switch to the new release on h1", async () =>
    (await currentOn(w, "h1")) === `releases/${sha}` ? true : undefined,
  );
  await app.kill();
}

export interface FaultRow {
  scenario: string;
  recordsLost: number;
  duplicateDeploys: number;
  consistent: boolean;
  detail: string;
}

/**
 * The checks of one row, for `sha` deployed to every host: none lost, none twice, each host runs
 * what the store says. Asserts, and returns the row for the report.
 */
export async function checkRow(
  w: World,
  store: Store,
  scenario: string,
  sha: string,
  version: string,
): Promise<FaultRow> {
  const all = await store.listDeployments({ repo: REPO, limit: 1000 });
  const open = all.filter((d) => d.status === "queued" || d.status === "running");
  const rollouts = await store.db.query("SELECT id, status, reported FROM rollouts WHERE repo = $1", [REPO]);
  const openRollouts = rollouts.filter((r) => r.status === "running" || r.reported !== true);
  const unfinishedGitHub = w.github.deployments.filter(
    (d) => !d.statuses.some((s) => ["success", "failure", "error", "inactive"].includes(String(s.state))),
  );
  const unfinishedChecks = w.github.checkRuns.filter(
    (c) => c.bodies.length > 0 && c.state.status !== "completed",
  );
  const recordsLost = open.length + openRollouts.length + unfinishedGitHub.length + unfinishedChecks.length;
  const succeeded = (host: string) =>
    all.filter((d: Deployment) => d.host === host && d.commit === sha && d.status === "succeeded").length;
  const duplicateDeploys = w.h.hosts.reduce((n, t) => n + Math.max(0, succeeded(t.name) - 1), 0);
  const deployed = await store.getDeployed(REPO);
  const mismatches: string[] = [];
  for (const t of w.h.hosts) {
    const record = deployed.find((d) => d.stack === "slow" && d.host === t.name);
    const current = await currentOn(w, t.name);
    const running = await runningVersion(w, t.name);
    if (record?.commit !== sha || current !== `releases/${sha}` || running !== version)
      mismatches.push(
        `${t.name}: record ${record?.commit.slice(0, 7)}, current ${current}, running ${running}`,
      );
  }
  const row: FaultRow = {
    scenario,
    recordsLost,
    duplicateDeploys,
    consistent: mismatches.length === 0,
    detail: JSON.stringify({
      open: open.map((d) => [d.id, d.host, d.status]),
      openRollouts,
      unfinishedGitHub: unfinishedGitHub.map((d) => d.id),
      unfinishedChecks: unfinishedChecks.map((c) => c.id),
      mismatches,
    }),
  };
  expect(row, row.detail).toMatchObject({ recordsLost: 0, duplicateDeploys: 0, consistent: true });
  expect(w.github.unexpected).toEqual([]);
  return row;
}

/** The fault table, printed once per file (README has the table of a full run). */
export function printRows(rows: readonly FaultRow[]): void {
  const lines = rows.map(
    (r) => `| ${r.scenario} | ${r.recordsLost} | ${r.duplicateDeploys} | ${r.consistent ? "yes" : "NO"} |`,
  );
  console.log(
    [
      "| Fault | Records lost | Duplicate deploys | Final states consistent |",
      "|---|---|---|---|",
      ...lines,
    ].join("\n"),
  );
}
