/**
 * `stackpilot status`: what the state store knows, without touching a host: which commit of each
 * stack runs where (and whether a rollback pinned it), the latest deployments with their results,
 * the locks held; `--deployment ID` prints one deployment whole, with every command it ran and the
 * command's stored output (bounded and redacted when it was recorded), and the App's last drift
 * check of each target. `--live` compares every record with its host now (one command per host,
 * deploy/liveState.ts) and says what differs.
 */
import { resolve } from "node:path";
import { loadInventory } from "../config/hostsFile.ts";
import { checkLive, type LiveVerdict } from "../deploy/liveState.ts";
import { Runner } from "../deploy/runner.ts";
import { SshPool } from "../deploy/ssh/pool.ts";
import { GitRepo } from "../git/repo.ts";
import type { DeployedState } from "../state/deployed.ts";
import type { Deployment, DeploymentWithLogs } from "../state/deployments.ts";
import type { DriftCheck } from "../state/drift.ts";
import type { HookRunRecord, HookStat } from "../state/hookRuns.ts";
import type { LockInfo } from "../state/locks.ts";
import type { DeploymentSource } from "../state/sources.ts";
import type { Store } from "../state/store.ts";
import { compileGlob } from "../util/glob.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir } from "./session.ts";
import { table } from "./table.ts";
import { hasState, withStore } from "./withState.ts";

export const STATUS_HELP = `Usage: stackpilot status [options]

What is deployed where (with the App's last drift check of each target), the latest deployments
and the locks held, from the state store (no host is contacted).

Options:
  --repo DIR        repository checkout, for its identity (default: .)
  --stack GLOB      only stacks matching (repeatable)
  --host GLOB       only hosts matching (repeatable)
  --limit N         latest deployments shown (default: 10)
  --deployment ID   one deployment in full: its result and every command it ran, with output
  --live            also compare each record with its host now: \`current\`, the containers (running,
                    images, config) and nothing extra, one command per host (needs --hosts;
                    exit status 1 when anything differs or a host cannot be read)
  --hosts FILE      hosts file (for --live)
  --json            print JSON instead of tables
  --data DIR        state directory (default: $STACKPILOT_DATA_DIR or .stackpilot; DATABASE_URL
                    selects Postgres)
  -h, --help        show this help

Exit status: 0 shown, 1 no state in the data directory, no such deployment, or (with --live) a
host differs or cannot be read, 2 usage error.
`;

export interface StatusView {
  repo: string;
  /** `lastCheck`: the App's last drift check; `live` (with `--live`): the record against its host now. */
  deployed: (DeployedState & { lastCheck?: DriftCheck; live?: LiveVerdict })[];
  deployments: Deployment[];
  locks: LockInfo[];
  /** Hook runs by hook and result over the repository's deployments, with the time they took. */
  hooks: HookStat[];
}

/** One deployment whole: its commands, its hook attempts, the source commits its release used. */
export type DeploymentView = DeploymentWithLogs & { hooks: HookRunRecord[]; sources: DeploymentSource[] };

export async function statusCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseStatusArgs(argv);
  if (values.help) {
    io.out(STATUS_HELP);
    return 0;
  }
  if (values.live && !values.hosts) throw new UsageError("--live needs --hosts FILE");
  const limit = positiveInt("--limit", values.limit, 1000);
  const deploymentId =
    values.deployment === undefined ? undefined : positiveInt("--deployment", values.deployment);
  const repo = await repoIdentity(new GitRepo(resolve(values.repo)));
  const dataDir = defaultDataDir(values.data);
  if (!hasState(dataDir)) {
    io.err(
      `stackpilot status: no state in ${dataDir} (nothing was deployed with it); --data DIR or DATABASE_URL name another\n`,
    );
    return 1;
  }
  return withStore(dataDir, (store) =>
    deploymentId === undefined
      ? showStatus(store, { ...values, repo, limit, dataDir }, io)
      : showDeployment(store, repo, deploymentId, Boolean(values.json), io),
  );
}

function parseStatusArgs(argv: string[]) {
  return parse(argv, {
    repo: { type: "string", default: "." },
    stack: { type: "string", multiple: true },
    host: { type: "string", multiple: true },
    limit: { type: "string", default: "10" },
    deployment: { type: "string" },
    json: { type: "boolean" },
    live: { type: "boolean" },
    hosts: { type: "string" },
    data: { type: "string" },
  });
}

async function showDeployment(
  store: Store,
  repo: string,
  id: number,
  json: boolean,
  io: Io,
): Promise<number> {
  const found = await store.getDeployment(id);
  if (!found || found.repo !== repo) {
    io.err(`stackpilot status: no deployment ${id} of ${repo}\n`);
    return 1;
  }
  const hooks = await store.listHookRuns(id);
  const sources = await store.deploymentSources(found.id);
  const d: DeploymentView = { ...found, hooks, sources };
  io.out(json ? `${JSON.stringify(d, null, 2)}\n` : renderDeployment(d, sources));
  return 0;
}

interface StatusRequest {
  repo: string;
  /** `--stack` and `--host` globs. */
  stack?: string[] | undefined;
  host?: string[] | undefined;
  limit: number;
  live?: boolean | undefined;
  hosts?: string | undefined;
  dataDir: string;
  json?: boolean | undefined;
}

/** The overview; exit status 1 when (with `--live`) a host differs or cannot be read. */
async function showStatus(store: Store, o: StatusRequest, io: Io): Promise<number> {
  const view = await statusView(store, o);
  if (o.live && o.hosts) view.deployed = await withLive(view.deployed, o.hosts, o.dataDir);
  io.out(o.json ? `${JSON.stringify(view, null, 2)}\n` : renderStatus(view));
  return view.deployed.some((d) => d.live && d.live.state !== "in_sync") ? 1 : 0;
}

/** What the store knows of the targets the globs match. */
async function statusView(store: Store, o: StatusRequest): Promise<StatusView> {
  const { repo, limit } = o;
  const stackOk = o.stack?.length ? compileGlob(o.stack) : () => true;
  const hostOk = o.host?.length ? compileGlob(o.host) : () => true;
  const wanted = (t: { stack: string; host: string }) => stackOk(t.stack) && hostOk(t.host);
  const filtered = Boolean(o.stack?.length || o.host?.length);
  const checks = new Map((await store.listDriftChecks(repo)).map((c) => [`${c.stack}\0${c.host}`, c]));
  return {
    repo,
    deployed: (await store.getDeployed(repo)).filter(wanted).map((d) => {
      const lastCheck = checks.get(`${d.stack}\0${d.host}`);
      return lastCheck ? { ...d, lastCheck } : d;
    }),
    // Globs are matched here, so read enough rows to find `limit` matching ones.
    deployments: (await store.listDeployments({ repo, limit: filtered ? 1000 : limit }))
      .filter(wanted)
      .slice(0, limit),
    locks: (await store.listLocks()).filter((l) => {
      const guards = lockTarget(l.key, repo);
      return guards === "build" ? !filtered : guards !== undefined && wanted(guards);
    }),
    hooks: await store.hookStats(repo),
  };
}

/** Each record against what its host runs now: one command per host, all hosts at once. */
async function withLive(
  deployed: StatusView["deployed"],
  hostsFile: string,
  dataDir: string,
): Promise<StatusView["deployed"]> {
  const { hosts } = await loadInventory(hostsFile);
  const pool = new SshPool(hosts, { dataDir });
  try {
    const verdicts = await checkLive(new Runner(pool), hosts, deployed, { hostsFile });
    return deployed.map((d, i) => ({ ...d, live: verdicts[i] as LiveVerdict }));
  } finally {
    await pool.close();
  }
}

/**
 * What a lock of this repository guards: a (stack, host) for `deploy:<repo>:<stack>:<host>`, an
 * image for `build:<repo>:<image>` (shown only when no stack or host filter is given).
 */
function lockTarget(key: string, repo: string): { stack: string; host: string } | "build" | undefined {
  const deploy = `deploy:${repo}:`;
  if (key.startsWith(deploy)) {
    const rest = key.slice(deploy.length);
    const cut = rest.lastIndexOf(":");
    return { stack: rest.slice(0, cut), host: rest.slice(cut + 1) };
  }
  return key.startsWith(`build:${repo}:`) ? "build" : undefined;
}

/** The overview: deployed, latest deployments, locks. Pure. */
export function renderStatus(view: StatusView): string {
  let out = `Deployed (${view.repo}):\n`;
  out += view.deployed.length ? deployedTable(view.deployed) : "  nothing\n";
  out += "\nLatest deployments:\n";
  out += view.deployments.length ? deploymentsTable(view.deployments) : "  none\n";
  if (view.hooks.length) {
    out += "\nHook runs (all deployments of the repository):\n";
    out += table(
      ["HOOK", "RESULT", "RUNS", "TOTAL TIME"],
      view.hooks.map((h) => [h.hook, h.status.replace("_", " "), String(h.runs), seconds(h.totalMs)]),
    );
  }
  out += "\nLocks held:\n";
  out += view.locks.length ? locksTable(view.locks) : "  none\n";
  return out;
}

/** With a column for the App's drift checks, and one for `--live`, when any record has one. */
function deployedTable(deployed: StatusView["deployed"]): string {
  const live = deployed.some((d) => d.live);
  const checked = deployed.some((d) => d.lastCheck);
  return table(
    [
      "STACK",
      "HOST",
      "COMMIT",
      "DEPLOYED (UTC)",
      "DEPLOYMENT",
      "PINNED",
      ...(checked ? ["LAST DRIFT CHECK (UTC)"] : []),
      ...(live ? ["ON THE HOST"] : []),
    ],
    deployed.map((d) => [
      d.stack,
      d.host,
      d.commit.slice(0, 7),
      when(d.deployedAt),
      d.deploymentId === null ? "" : `#${d.deploymentId}`,
      d.pinned ? "pinned (rollback)" : "",
      ...(checked ? [d.lastCheck ? checkCell(d.lastCheck) : ""] : []),
      ...(live ? [d.live ? liveCell(d.live) : ""] : []),
    ]),
  );
}

function deploymentsTable(deployments: readonly Deployment[]): string {
  return table(
    ["ID", "STACK", "HOST", "COMMIT", "STATUS", "BY", "CREATED (UTC)", "TIME", "DETAIL"],
    deployments.map((d) => [
      `#${d.id}`,
      d.stack,
      d.host,
      d.commit.slice(0, 7),
      d.status,
      `${d.actor} (${d.trigger})`,
      when(d.createdAt),
      duration(d),
      lastLine(d.error, 100),
    ]),
  );
}

function locksTable(locks: readonly LockInfo[]): string {
  return table(
    ["LOCK", "HOLDER", "SINCE (UTC)", "EXPIRES (UTC)"],
    locks.map((l) => [
      l.key,
      l.holder,
      when(l.acquiredAt),
      `${when(l.expiresAt)}${l.expired ? " (expired: free to take)" : ""}`,
    ]),
  );
}

/**
 * One deployment with the source commits its release used, its hook attempts, then its commands
 * and their output. Pure.
 */
export function renderDeployment(
  d: DeploymentWithLogs & { hooks?: HookRunRecord[] },
  sources: readonly DeploymentSource[] = [],
): string {
  let out = `Deployment #${d.id}: ${d.stack} on ${d.host} at ${d.commit.slice(0, 7)}: ${d.status}\n`;
  out += `  by ${d.actor} (${d.trigger}), created ${when(d.createdAt)} UTC`;
  out += d.startedAt ? `, ran ${duration(d) || "until now"}` : "";
  out += d.retryOf !== null ? `, retry of #${d.retryOf}` : "";
  out += "\n";
  if (d.release) out += `  release ${d.release}\n`;
  for (const src of sources) out += `  source ${src.name}: ${src.repository} at ${src.commit.slice(0, 7)}\n`;
  if (d.timings && Object.keys(d.timings).length)
    out += `  steps: ${Object.entries(d.timings)
      .map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
      .join(", ")}\n`;
  if (d.error) out += `  error: ${d.error.trim().split("\n").join("\n         ")}\n`;
  if (d.hooks?.length) out += renderHookRuns(d.hooks, d.status);
  out += d.logs.length ? `\nCommands (${d.logs.length}):\n` : "\nNo commands recorded.\n";
  for (const log of d.logs) {
    out += `\n$ ${log.command}\n`;
    if (log.output) out += log.output.endsWith("\n") ? log.output : `${log.output}\n`;
    out += log.code === null ? "(no exit status: killed or cut off)\n" : `(exit ${log.code})\n`;
  }
  return out;
}

/** A deployment's hook attempts, each with its verdict and output (bounded when recorded). */
function renderHookRuns(runs: readonly HookRunRecord[], deployment: Deployment["status"]): string {
  let out = `\nHooks (${runs.length} attempt${runs.length === 1 ? "" : "s"}):\n`;
  for (const r of runs) {
    const result = hookResult(r, deployment);
    out += `\n- ${r.hook}, attempt ${r.attempt}${r.required ? "" : " (not required)"}: ${result}`;
    out += r.durationMs === null ? "\n" : `, ${seconds(r.durationMs)}\n`;
    if (r.output) out += `${r.output.replace(/^/gm, "    ").replace(/\s+$/, "")}\n`;
  }
  return out;
}

function hookResult(r: HookRunRecord, deployment: Deployment["status"]): string {
  switch (r.status) {
    case "running":
      return deployment === "running" ? "running" : "cut off (the deployer stopped)";
    case "timed_out":
      return "timed out (process group killed)";
    case "failed":
      return `failed${r.exitCode === null ? "" : ` (exit status ${r.exitCode})`}`;
    default:
      return r.status;
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function liveCell(v: LiveVerdict): string {
  switch (v.state) {
    case "in_sync":
      return "in sync";
    case "drifted":
      return cut(`DRIFTED: ${v.differences.join("; ")}`, 200);
    case "unreachable":
      return `UNREACHABLE: ${lastLine(v.error, 100)}`;
  }
}

/** The App's last check: its state and time, what differed, and what healing did. */
function checkCell(c: DriftCheck): string {
  const at = when(c.checkedAt).slice(11);
  const state =
    c.state === "in_sync"
      ? `in sync (${at})`
      : c.state === "drifted"
        ? cut(`DRIFTED (${at}): ${c.details.join("; ")}`, 160)
        : `UNREACHABLE (${at}): ${lastLine(c.details[0] ?? "", 80)}`;
  if (!c.heal) return state;
  const heal =
    c.heal.outcome === "given_up" && c.heal.until
      ? `heal given up until ${when(c.heal.until)}`
      : `heal ${c.heal.outcome.replace("_", " ")}`;
  return `${state}; ${heal}`;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function positiveInt(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max)
    throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got "${text}"`);
  return n;
}

function when(at: Date): string {
  return at.toISOString().slice(0, 16).replace("T", " ");
}

function duration(d: Pick<Deployment, "startedAt" | "finishedAt">): string {
  if (!d.startedAt || !d.finishedAt) return "";
  return `${((d.finishedAt.getTime() - d.startedAt.getTime()) / 1000).toFixed(1)} s`;
}

function lastLine(text: string | null, max: number): string {
  const last = text?.trim().split("\n").at(-1) ?? "";
  return last.length > max ? `${last.slice(0, max - 1)}…` : last;
}
