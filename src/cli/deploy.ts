/**
 * `stackpilot deploy`: plan the checkout's HEAD against what is deployed, then deploy what
 * differs, host by host in parallel, with a progress line per (stack, host) and a summary table.
 */
import { resolve } from "node:path";
import { formatProblem } from "../config/problems.ts";
import { HostDeployer } from "../deploy/hostDeploy.ts";
import { type HostJobResult, isSuccess, type ProgressEvent, runPlan } from "../deploy/orchestrate.ts";
import { parseLimitsFrom } from "../detect/blobReader.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import { deployEvent } from "../notify/events.ts";
import { brokenReason } from "../plan/broken.ts";
import type { Plan } from "../plan/plan.ts";
import { type PlannedDeploy, planDeploy } from "../plan/planDeploy.ts";
import { planBudgetMs, watchBudget } from "../plan/planner.ts";
import { renderText } from "../plan/render/text.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { checkoutMounts, SOURCE_HELP, SOURCE_OPTION, sourceFlags } from "./mounts.ts";
import { sessionPlanOptions } from "./planInputs.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir, type Session } from "./session.ts";
import { table } from "./table.ts";
import { withSession } from "./withState.ts";

export const DEPLOY_HELP = `Usage: stackpilot deploy [options]

Deploy the checkout's commit to every host whose deployed stack differs from it. Which hosts
each environment may reach is read from the default branch (origin/HEAD, else main, else
master), as the GitHub App does; the hosts file's environments and repos lists apply too.

Options:
  --repo DIR        repository checkout (default: .)
  --ref REF         commit to deploy (default: HEAD)
  --hosts FILE      hosts file (required)
  --stack GLOB      only stacks matching (repeatable)
  --host GLOB       only hosts matching (repeatable)
  --force           deploy even where the deployed fingerprint is identical or pinned
${SOURCE_HELP}
  --dry-run         print the plan, change nothing
  --data DIR        state directory for the embedded database and host key pins
                    (default: $STACKPILOT_DATA_DIR or .stackpilot; DATABASE_URL selects Postgres)
    --health-timeout SECS   wait this long for containers to be running/healthy (default: 120)
  --lock-ttl SECS   database lock lifetime, renewed while deploying; a deployer that died is
                    noticed (and its deployment marked interrupted) this long after (default: 60)
  -h, --help        show this help

A stack whose compose project or definition has errors is broken: it is not deployed, and
every other stack is. Invalid configuration (.github/stackpilot.yml) deploys nothing.

Exit status: 0 everything deployed (or nothing to do), 1 a deploy failed, a stack it was to
deploy is broken, or invalid configuration, 2 usage error.
`;

export async function deployCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseDeployArgs(argv);
  if (values.help) {
    io.out(DEPLOY_HELP);
    return 0;
  }
  const request = await deployRequest(values);
  const opened = {
    hostsFile: request.hostsFile,
    dataDir: request.dataDir,
    err: (line: string) => io.err(line),
  };
  return withSession(opened, async (session) => {
    await reportRecovered(session, io);
    const planned = await planHead(request, session);
    const { plan } = planned;
    io.out(renderText(plan));
    if (!plan.deployable) return 1;
    const finish = finisher(plan, io);
    if (request.dryRun || plan.summary.deploy + plan.summary.remove === 0) return finish(true);
    const results = await deployPlanned(request, session, planned, io);
    reportResults(request, session, plan, results, io);
    return finish(results.every(isSuccess));
  });
}

function parseDeployArgs(argv: string[]) {
  return parse(argv, {
    repo: { type: "string", default: "." },
    ref: { type: "string", default: "HEAD" },
    hosts: { type: "string" },
    stack: { type: "string", multiple: true },
    host: { type: "string", multiple: true },
    force: { type: "boolean" },
    "dry-run": { type: "boolean" },
    data: { type: "string" },
    "health-timeout": { type: "string", default: "120" },
    "lock-ttl": { type: "string", default: "60" },
    source: SOURCE_OPTION,
  });
}

type DeployRequest = Awaited<ReturnType<typeof deployRequest>>;

/** The options checked, and the checkout's commit to deploy. */
async function deployRequest(values: ReturnType<typeof parseDeployArgs>["values"]) {
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  const healthTimeout = Number(values["health-timeout"]);
  if (!(healthTimeout > 0)) throw new UsageError("--health-timeout must be a positive number of seconds");
  const lockTtl = Number(values["lock-ttl"]);
  if (!(lockTtl >= 1)) throw new UsageError("--lock-ttl must be at least 1 second");
  const repo = new GitRepo(resolve(values.repo));
  const head = await repo.resolveCommit(values.ref);
  if (!head) throw new UsageError(`unknown revision "${values.ref}" in ${values.repo}`);
  return {
    repo,
    head,
    repoId: await repoIdentity(repo),
    sources: sourceFlags(values.source),
    hostsFile: values.hosts,
    dataDir: defaultDataDir(values.data),
    only: { stacks: values.stack ?? [], hosts: values.host ?? [] },
    force: Boolean(values.force),
    dryRun: Boolean(values["dry-run"]),
    healthTimeoutMs: healthTimeout * 1000,
    lockTtlMs: lockTtl * 1000,
  };
}

/** A deployer that died mid-deploy left its deployment running: say so, and plan it again. */
async function reportRecovered(session: Session, io: Io): Promise<void> {
  for (const d of await session.store.recoverInterrupted()) {
    io.err(`recovered deployment #${d.id} (${d.stack} on ${d.host}, ${d.commit.slice(0, 7)}): ${d.error}\n`);
  }
}

/** The plan of the commit (against its parent) and what is deployed. */
async function planHead(request: DeployRequest, session: Session): Promise<PlannedDeploy> {
  const { repo, repoId, head } = request;
  const deployed = (await session.store.getDeployed(repoId)).map((d) => ({
    stack: d.stack,
    host: d.host,
    fingerprint: d.fingerprint,
    commit: d.commit,
    pinned: d.pinned,
  }));
  const base = await repo.resolveCommit(`${head}~1`);
  const mounts = await checkoutMounts(repo, { ...(base ? { base } : {}), head }, request.sources);
  // Where each environment may go comes from the default branch, as in the App.
  const { options } = await sessionPlanOptions(session, repo, repoId, parseLimitsFrom());
  const cache = new ParseCache();
  const stopWatch = watchBudget(cache, planBudgetMs(), `planning ${repoId} at ${head.slice(0, 12)}`);
  return planDeploy(
    repo,
    {
      ...(base ? { base } : {}),
      head,
      mounts,
      deployed,
      ...(request.force ? { force: true } : {}),
      only: request.only,
      ...options,
    },
    cache,
  ).finally(stopWatch);
}

/** The exit status: the stacks asked for (all, or --stack/--host) that cannot deploy are said last, and exit 1. */
function finisher(plan: Plan, io: Io): (ok: boolean) => number {
  const broken = plan.stacks.filter((s) => s.broken && s.targets.length > 0);
  return (ok) => {
    for (const s of broken)
      io.err(`not deployed: stack "${s.name}" is broken: ${brokenReason(s.broken ?? [])}\n`);
    return ok && broken.length === 0 ? 0 : 1;
  };
}

/** Runs the plan on the hosts, a progress line per (stack, host) as each starts and ends. */
function deployPlanned(
  request: DeployRequest,
  session: Session,
  planned: PlannedDeploy,
  io: Io,
): Promise<HostJobResult[]> {
  return runPlan({
    repo: request.repo,
    repoId: request.repoId,
    plan: planned.plan,
    head: planned.head,
    hosts: session.hosts,
    remote: session.pool,
    makeDeployer: (runner) =>
      new HostDeployer(runner, {
        healthTimeoutMs: request.healthTimeoutMs,
        lockOwner: session.installationId,
      }),
    ledger: session.store,
    actor: session.actor,
    trigger: "cli",
    log: { error: (m) => io.err(`${m}\n`) },
    lockTtlMs: request.lockTtlMs,
    images: { plan: planned.images, registries: session.inventory.registries },
    onProgress: (e) => io.err(progressLine(e)),
  });
}

/** A (stack, host) starting, or its result. */
function progressLine(e: ProgressEvent): string {
  if (e.type === "start")
    return `[${e.host}] ${e.stack}: ${e.action === "remove" ? "removing" : "deploying"}…\n`;
  return `[${e.result.host}] ${e.result.stack}: ${e.result.status} in ${(e.result.durationMs / 1000).toFixed(1)} s\n`;
}

/** Notifications, the summary table, then the warnings of the deployments and of the plan. */
function reportResults(
  request: DeployRequest,
  session: Session,
  plan: Plan,
  results: readonly HostJobResult[],
  io: Io,
): void {
  for (const r of results) {
    const event = deployEvent(request.repoId, request.head, r);
    if (event) session.notifier.emit(event);
  }
  io.out(`\n${summaryTable(results)}`);
  for (const r of results)
    for (const w of r.warnings ?? []) io.err(`warning: ${r.stack} on ${r.host}: ${w}\n`);
  for (const p of plan.problems) if (p.severity === "warning") io.err(`${formatProblem(p)}\n`);
}

export function summaryTable(results: readonly HostJobResult[]): string {
  // The last line of an error is its cause (a command's stderr ends with why it failed).
  const detail = (e?: string) => e?.trim().split("\n").at(-1)?.slice(0, 160) ?? "";
  const rows = results.map((r) => [
    r.stack,
    r.host,
    r.status,
    `${(r.durationMs / 1000).toFixed(1)} s`,
    r.deploymentId === undefined ? "" : `#${r.deploymentId}`,
    detail(r.error),
  ]);
  const failed = results.filter((r) => !isSuccess(r));
  const logs = failed.find((r) => r.deploymentId !== undefined);
  return `${table(["STACK", "HOST", "RESULT", "TIME", "DEPLOYMENT", "DETAIL"], rows)}\n${results.length - failed.length} succeeded, ${failed.length} failed.\n${
    logs
      ? `Every command a deployment ran, with its output: stackpilot status --deployment ${logs.deploymentId}\n`
      : ""
  }`;
}
