/**
 * One procedure run, as the queue hands it to a worker:
 * 1. wait for the run's coalescing lock (one run of a repository's procedure and branch at a
 *    time; while waiting, a newer run of it supersedes this one: the newest commit wins),
 * 2. find the repository (a trigger or the CLI names only `owner/name`: its installation is asked
 *    of GitHub, kept a minute), bring the mirror up to date (runCheckout.ts: no fetch when it
 *    already is), read the rules and the procedure from the default branch at that tip (kept
 *    with the run when it first starts, so a resumed run runs what it started with),
 * 3. a trigger's `paths` filter: a range touching none of them ends the run as skipped,
 * 4. the stages (engine.ts) with the App's steps (procedureSteps.ts), the check run
 *    `stackpilot/procedure: NAME` created meanwhile and following each change,
 * 5. the run's end, then (the lease released) the check run's last update. A lost lease or a
 *    transient error is thrown: the queue retries the job and the retry resumes at the next
 *    unfinished step; a permanent one ends the run as failed.
 */
import type { Probot } from "probot";
import { errorText } from "../../deploy/hostDeploy.ts";
import { FULL_SHA } from "../../git/sha.ts";
import { loadPolicy } from "../../policy/load.ts";
import { type Policy, policyBroken, policySource } from "../../policy/policy.ts";
import { anyMatch } from "../../procedures/conditions.ts";
import { definitionOf, deployChangedDefinition, type RunDefinition } from "../../procedures/definition.ts";
import { runDefinition } from "../../procedures/engine.ts";
import { runName, runView } from "../../procedures/view.ts";
import { withLockWaiting } from "../../state/locks.ts";
import { RUN_ENDED, type Run, type RunRepoRef } from "../../state/procedureRuns.ts";
import type { Store } from "../../state/store.ts";
import { stepTimer } from "../../util/timings.ts";
import { checkRunProgress } from "../api/checkRunProgress.ts";
import { type RepositoryDirectory, RepositoryNotInstalled } from "../api/repositoryDirectory.ts";
import { procedureCheckRun } from "../render/procedureCheckRun.ts";
import type { JobContext, Octokit, WorkerDeps } from "./jobContext.ts";
import { isPermanent, shortReason } from "./jobErrors.ts";
import { appStepRunner, type RunScope } from "./procedureSteps.ts";
import { runCheckout } from "./runCheckout.ts";

export interface ProcedureWorker {
  deps: WorkerDeps;
  app: Pick<Probot, "auth" | "log">;
  /** Repositories named by a trigger, the CLI or a schedule (kept for a minute). */
  repositories: RepositoryDirectory;
}

/** A run's coalescing lock: renewed every third of it. */
export const RUN_LEASE_MS = 30_000;

/** An error a retry cannot change (the configuration, a missing procedure or branch). */
export class RunRefused extends Error {
  override name = "RunRefused";
  readonly permanent = true;
}

export async function runProcedureJob(
  w: ProcedureWorker,
  runId: number,
  meta: { attempt: number; last: boolean },
): Promise<void> {
  const { store } = w.deps;
  const run = await store.procedures.getRun(runId);
  if (!run || RUN_ENDED.has(run.status)) return;
  const pickedAt = Date.now();
  const holder = `run ${runId} (${w.deps.installationId}:${process.pid})`;
  // The check run's last update, sent once the lease is released: the run's end is already stored,
  // and the next run of the procedure need not wait for GitHub.
  let showFinal: (() => Promise<void>) | undefined;
  try {
    await withLockWaiting(
      store,
      {
        key: `procedure:${run.coalesceKey}`,
        holder,
        ttlMs: RUN_LEASE_MS,
        wait: { pollMs: 500, maxMs: 6 * 3600_000 },
      },
      async (signal) => {
        showFinal = await execute(w, runId, signal, pickedAt);
        return "done" as const;
      },
      // While waiting for the run before it: a newer run of the same procedure replaces this one.
      async () => ((await store.procedures.supersedeRunIfStale(runId)) ? ("superseded" as const) : undefined),
    );
  } catch (err) {
    const permanent = isPermanent(err) || err instanceof RunRefused;
    w.app.log.error(
      { err, run: runId, attempt: meta.attempt },
      `procedure run #${runId} failed (${permanent ? "permanent" : meta.last ? "no attempt left" : "will be resumed"}): ${errorText(err)}`,
    );
    if (!permanent && !meta.last) throw err;
    await store.procedures.finishRun(runId, {
      status: "failed",
      error: err instanceof RunRefused ? err.message : shortReason(err, `run ${runId}`),
    });
    await showEnd(w, runId).catch(() => {});
    return;
  }
  await showFinal?.().catch((err: unknown) =>
    w.app.log.warn(`procedure run #${runId}: its check run's last update failed: ${errorText(err)}`),
  );
}

async function execute(
  w: ProcedureWorker,
  runId: number,
  signal: AbortSignal,
  pickedAt: number,
): Promise<(() => Promise<void>) | undefined> {
  const { store } = w.deps;
  const t0 = Date.now();
  // Of several runs of one procedure waiting, only the newest goes on.
  if (await store.procedures.supersedeRunIfStale(runId)) return;
  const run = (await store.procedures.getRun(runId)) as Run;
  if (RUN_ENDED.has(run.status)) return;
  // Where the start goes (request to first step), for the log and stackpilot_procedure_start_phase_seconds.
  const { timings, time } = stepTimer();
  timings.queued = Math.max(0, pickedAt - run.createdAt.getTime());
  timings.lock = t0 - pickedAt;
  const prepared = await prepare(w, run, time);
  if (!prepared) return;
  const { ctx, repo, head } = prepared;

  const changed = await time("changes", async () =>
    run.base && (await repo.resolveCommit(run.base)) ? await changedFiles(repo, run.base, head) : undefined,
  );
  if (await skippedByPaths(store, run, head, changed)) return;

  // The check run is feedback, not a gate: it is created while the first steps start. A failure
  // to create it fails the run once the steps end, and the retry finds them done.
  const progressMade = checkRun(ctx, runId, head);
  progressMade.catch(() => {});
  logStart(w, ctx, run, timings);
  const result = await runSteps(run, prepared, changed, progressMade, signal);
  signal.throwIfAborted();
  const progress = await progressMade;
  await recordEnd(w, ctx, run, head, result.failed, t0);
  return async () => {
    await progress.finish();
  };
}

/** What a started run runs with (prepare). */
interface PreparedRun {
  ctx: JobContext;
  repo: RunScope["repo"];
  head: string;
  branch: string;
  policy: Policy;
  definition: RunDefinition;
}

/** A trigger's `paths` filter that no changed file matches ends the run as skipped. */
async function skippedByPaths(
  store: Store,
  run: Run,
  head: string,
  changed: string[] | undefined,
): Promise<boolean> {
  if (!run.filters.paths || !changed || anyMatch(run.filters.paths, changed)) return false;
  await store.procedures.finishRun(run.id, {
    status: "skipped",
    reason: `no file changed in ${run.base?.slice(0, 7)}..${head.slice(0, 7)} matches the trigger's paths (${run.filters.paths.join(", ")})`,
  });
  return true;
}

function logStart(w: ProcedureWorker, ctx: JobContext, run: Run, timings: Record<string, number>): void {
  w.deps.metrics?.procedureStart(timings);
  ctx.log.info(
    `procedure run #${run.id} (${runName(run)}) starts its steps; start phases (ms): ${Object.entries(timings)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
}

/**
 * The stages with the App's steps, each step recorded with the run (a retry resumes after the
 * recorded ones) and each change sent to the check run once it exists.
 */
async function runSteps(
  run: Run,
  { ctx, repo, head, branch, policy, definition }: PreparedRun,
  changed: string[] | undefined,
  progressMade: Promise<{ changed: () => void }>,
  signal: AbortSignal,
): Promise<{ failed: boolean }> {
  const { store } = ctx.deps;
  return runDefinition({
    definition,
    changed,
    recorded: new Map((await store.procedures.listSteps(run.id)).map((s) => [s.path, s])),
    ledger: {
      setStep: (path, u) => store.procedures.setStep(run.id, path, u),
      addStepDetail: (path, detail) => store.procedures.addStepDetail(run.id, path, detail),
    },
    runner: appStepRunner(ctx, { run: { ...run, branch }, repo, head, branch, policy } satisfies RunScope),
    onChange: () =>
      void progressMade.then(
        (p) => p.changed(),
        () => {},
      ),
    signal,
  });
}

/** The run's end: stored, counted and logged. */
async function recordEnd(
  w: ProcedureWorker,
  ctx: JobContext,
  run: Run,
  head: string,
  failed: boolean,
  t0: number,
): Promise<void> {
  const status = failed ? "failed" : "succeeded";
  await w.deps.store.procedures.finishRun(run.id, { status });
  w.deps.metrics?.procedureRun(run.procedure ?? "deploy-changed", status, Date.now() - t0);
  ctx.log.info(`procedure run #${run.id} (${runName(run)}) at ${head.slice(0, 7)}: ${status}`);
}

/**
 * The run's repository, checkout and rules, and the run marked started with them; undefined when
 * another attempt started it meanwhile. Each phase timed by `time`.
 */
async function prepare(
  w: ProcedureWorker,
  run: Run,
  time: ReturnType<typeof stepTimer>["time"],
): Promise<PreparedRun | undefined> {
  const { store } = w.deps;
  const runId = run.id;
  const { ref, ctx } = await time("repository", async () => {
    const ref = run.repoRef ?? (await resolve(w, run.repo));
    return { ref, ctx: await jobContext(w, ref, runId) };
  });
  const branch = run.branch ?? ref.defaultBranch;
  // A `/run` from a pull request runs at its head, which lives under refs/pull/.
  const pr = run.source === "command" ? /^pr#([0-9]+)$/.exec(run.triggerName ?? "")?.[1] : undefined;
  const { repo, tips } = await time("fetch", () =>
    runCheckout(
      ctx,
      [branch, ref.defaultBranch],
      pr ? [`refs/pull/${pr}/head`] : run.head && FULL_SHA.test(run.head) ? [run.head] : [],
    ),
  );
  const { head, policy } = await time("policy", async () => {
    const head = run.head ?? tips.get(branch);
    if (!head || (run.head && !(await repo.resolveCommit(head))))
      throw new RunRefused(`${branch} has no commit ${run.head ?? ""} in ${ref.fullName}`);
    // The default branch at the commit just checked (or fetched): its rules.
    const rulesAt = tips.get(ref.defaultBranch) ?? `refs/heads/${ref.defaultBranch}`;
    const policy = await loadPolicy(repo, ref.defaultBranch, rulesAt, ctx.deps.limits);
    if (policyBroken(policy))
      throw new RunRefused(
        `the default branch's .github/stackpilot.yml (${policySource(policy)}) has errors: nothing runs until they are fixed there`,
      );
    await registerSchedules(store, ref, policy);
    return { head, policy };
  });
  const definition = (run.definition as RunDefinition | null) ?? definitionFor(run, policy);
  const started = await time("start", () =>
    store.procedures.startRun(runId, {
      repoRef: ref,
      branch,
      head,
      definition,
      policyCommit: policy.commit ?? null,
    }),
  );
  return started ? { ctx, repo, head, branch, policy, definition } : undefined;
}

async function resolve(w: ProcedureWorker, fullName: string): Promise<RunRepoRef> {
  try {
    return await w.repositories.resolve(fullName);
  } catch (err) {
    throw err instanceof RepositoryNotInstalled ? new RunRefused(err.message) : err;
  }
}

function definitionFor(run: Run, policy: Policy): RunDefinition {
  if (!run.procedure) return deployChangedDefinition();
  const def = definitionOf(policy.procedures, run.procedure);
  if (!def)
    throw new RunRefused(
      `there is no procedure "${run.procedure}" on the default branch (${policySource(policy)}); defined: ${[...policy.procedures.keys()].join(", ") || "none"}`,
    );
  return def;
}

async function changedFiles(repo: RunScope["repo"], base: string, head: string): Promise<string[]> {
  const files = new Set<string>();
  for (const c of await repo.diff(base, head)) {
    files.add(c.path);
    if (c.oldPath) files.add(c.oldPath);
  }
  return [...files];
}

/** The check run, created once (remembered with the run) and kept up to date as steps change. */
async function checkRun(ctx: JobContext, runId: number, head: string) {
  const { store } = ctx.deps;
  const viewNow = async () => {
    const run = (await store.procedures.getRun(runId)) as Run;
    return runView(run, await store.procedures.listSteps(runId));
  };
  let id = (await store.procedures.getRun(runId))?.checkRunId ?? undefined;
  if (id === undefined) {
    const { data } = await ctx.octokit.rest.checks.create({
      owner: ctx.owner,
      repo: ctx.repo,
      ...procedureCheckRun(await viewNow(), head),
    });
    id = data.id;
    await store.procedures.setRunCheckRun(runId, id);
  }
  const checkRunId = id;
  // Updates are coalesced (one in flight); each renders the run as the store has it then.
  let view = await viewNow();
  const progress = checkRunProgress({
    render: () => {
      const { head_sha: _sha, ...params } = procedureCheckRun(view, head);
      return params;
    },
    send: (params) =>
      ctx.octokit.rest.checks.update({
        owner: ctx.owner,
        repo: ctx.repo,
        check_run_id: checkRunId,
        ...params,
      }),
    log: ctx.log,
  });
  let refreshing: Promise<void> = Promise.resolve();
  const refresh = () => {
    refreshing = refreshing
      .then(async () => {
        view = await viewNow();
      })
      .catch((err: unknown) =>
        ctx.log.warn(`reading run #${runId} for its check run failed: ${errorText(err)}`),
      );
    return refreshing;
  };
  return {
    changed: () => void refresh().then(() => progress.changed()),
    finish: async () => {
      await refresh();
      return progress.finish();
    },
  };
}

/** A run that ended without its worker (refused, out of attempts): its check run shows the end. */
async function showEnd(w: ProcedureWorker, runId: number): Promise<void> {
  const run = await w.deps.store.procedures.getRun(runId);
  if (!run?.repoRef || run.checkRunId === null || !run.head) return;
  const ctx = await jobContext(w, run.repoRef, runId);
  const { head_sha: _sha, ...params } = procedureCheckRun(
    runView(run, await w.deps.store.procedures.listSteps(runId)),
    run.head,
  );
  await ctx.octokit.rest.checks.update({
    owner: ctx.owner,
    repo: ctx.repo,
    check_run_id: run.checkRunId,
    ...params,
  });
}

async function jobContext(w: ProcedureWorker, ref: RunRepoRef, runId: number): Promise<JobContext> {
  const octokit = (await w.app.auth(ref.installationId)) as Octokit;
  return {
    deps: w.deps,
    octokit,
    ref,
    owner: ref.owner,
    repo: ref.name,
    delivery: `run-${runId}`,
    log: { info: (m) => w.app.log.info(m), warn: (m) => w.app.log.warn(m), error: (m) => w.app.log.error(m) },
  };
}

/** The default branch's schedules, remembered for the scheduler (schedules.ts). */
export async function registerSchedules(store: Store, ref: RunRepoRef, policy: Policy): Promise<void> {
  const list = [...policy.procedures]
    .filter(([, p]) => p.schedule)
    .map(([procedure, p]) => ({ procedure, cron: p.schedule as string, timezone: p.timezone }));
  await store.procedures.setSchedules(ref, list);
}
