/**
 * The App's drift loop (src/drift does the work): every ROUND_MS, one replica at a time, a round
 * over every repository the App deployed. What it needs from GitHub, per repository:
 * - its installation: the one of its latest rollout (state/drift.ts `deployedInstallations`),
 *   so nothing new is stored; a repository only ever deployed by the CLI (into the App's database)
 *   has none: GitHub is asked which installation it has (api/repositoryDirectory.ts), an answer
 *   "not installed" kept for POLICY_TTL_MS; a CLI repository known by its path only is skipped;
 * - its default branch's rules: the repository's metadata read with that installation's token,
 *   the mirror fetched like a job fetches it, the policy read there (policy/load.ts), kept for
 *   POLICY_TTL_MS so a round costs no GitHub call; a push to the default branch is seen within it;
 * - a heal: the recorded commit fetched into the mirror, planned by the planner thread with force
 *   for those targets (jobContext.planJob), deployed by runPlan with the trigger `heal`.
 */

import { REPO_NAME } from "../../config/repoConfigSchema.ts";
import { HostDeployer } from "../../deploy/hostDeploy.ts";
import { runPlan } from "../../deploy/orchestrate.ts";
import { Runner } from "../../deploy/runner.ts";
import { ROUND_MS } from "../../drift/due.ts";
import type { HealHostResult, HealRequest } from "../../drift/healing.ts";
import { healLedger } from "../../drift/healLedger.ts";
import { type CheckedTarget, type DriftRepo, type DriftRoundResult, driftRound } from "../../drift/round.ts";
import type { Notifier } from "../../notify/notifier.ts";
import { loadPolicy } from "../../policy/load.ts";
import type { Policy } from "../../policy/policy.ts";
import { startRounds } from "../../util/rounds.ts";
import { type RepositoryDirectory, RepositoryNotInstalled } from "../api/repositoryDirectory.ts";
import type { RepoRef } from "../events.ts";
import {
  installationToken,
  type JobContext,
  mirrorAt,
  type Octokit,
  planJob,
  type WorkerDeps,
} from "./jobContext.ts";

/** How long a repository's default-branch rules are used before they are read again. */
export const POLICY_TTL_MS = 5 * 60_000;

export interface DriftLoopDeps {
  /** What jobs use: store, mirrors, hosts, registries, the SSH pool, the planner. */
  worker: WorkerDeps;
  octokitFor(installationId: number): Promise<Octokit>;
  /** Installations of repositories no rollout names (deployed by the CLI); none: those are skipped. */
  repositories?: Pick<RepositoryDirectory, "resolve">;
  notifier: Pick<Notifier, "emit">;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  holder: string;
  intervalMs?: number;
  policyTtlMs?: number;
  healBackoffMs?: number;
  onCheck?(checked: CheckedTarget): void;
}

interface RepoEntry {
  ref: RepoRef;
  octokit: Octokit;
  policy: Policy;
  readAt: number;
}

export interface DriftLoop {
  stop(): Promise<void>;
  /** A round now, after the one running; `all`: every target checked, due or not. */
  round(opts?: { all?: boolean }): Promise<DriftRoundResult | undefined>;
}

/** Rounds every `intervalMs` (the first at once); a round never overlaps the one before. */
export function startDrift(deps: DriftLoopDeps): DriftLoop {
  const known = new Map<string, RepoEntry>();
  const notInstalled = new Map<string, number>();
  const roundOnce = (opts: { all?: boolean }) =>
    driftRound(
      {
        store: deps.worker.store,
        hosts: deps.worker.hosts,
        runner: new Runner(deps.worker.remote),
        repos: () => reposToCheck(deps, known, notInstalled),
        heal: (req) => heal(deps, known, req),
        notifier: deps.notifier,
        log: deps.log,
        holder: deps.holder,
        ...(deps.healBackoffMs !== undefined ? { healBackoffMs: deps.healBackoffMs } : {}),
        ...(deps.onCheck ? { onCheck: deps.onCheck } : {}),
      },
      opts,
    );
  if (deps.worker.hosts.length === 0) return { stop: async () => {}, round: async () => undefined };
  return startRounds<{ all?: boolean }, DriftRoundResult | undefined>(
    (opts) => roundOnce(opts ?? {}),
    deps.intervalMs ?? ROUND_MS,
    (err) => deps.log.error(`drift round failed: ${(err as Error).message}`),
  );
}

/** Every repository with records, with its default branch's rules (read again after the TTL). */
async function reposToCheck(
  deps: DriftLoopDeps,
  known: Map<string, RepoEntry>,
  notInstalled: Map<string, number>,
): Promise<DriftRepo[]> {
  const out: DriftRepo[] = [];
  const rows = await deps.worker.store.deployedInstallations();
  const ttl = deps.policyTtlMs ?? POLICY_TTL_MS;
  for (const { repo, installationId } of await withInstallations(rows, deps, notInstalled, ttl)) {
    const cached = known.get(repo);
    if (cached && cached.ref.installationId === installationId && Date.now() - cached.readAt < ttl) {
      out.push({ repo, policy: cached.policy });
      continue;
    }
    try {
      const entry = await readRepo(deps, repo, installationId);
      known.set(repo, entry);
      out.push({ repo, policy: entry.policy });
    } catch (err) {
      // Rules that cannot be read now: the repository is left out of this round, never guessed.
      deps.log.warn(
        `drift: the rules of ${repo} cannot be read now, not checked this round: ${(err as Error).message}`,
      );
    }
  }
  return out;
}

/**
 * The rows with an installation: a rollout's, else GitHub's answer for the repository's name
 * (`notInstalled`: repository -> until when "not installed" is believed). A repository recorded
 * by its path, or one GitHub cannot be asked about now, is left out of this round.
 */
export async function withInstallations(
  rows: readonly { repo: string; installationId: number | null }[],
  deps: Pick<DriftLoopDeps, "repositories" | "log">,
  notInstalled: Map<string, number>,
  ttlMs: number,
  now = Date.now(),
): Promise<{ repo: string; installationId: number }[]> {
  const out: { repo: string; installationId: number }[] = [];
  for (const { repo, installationId } of rows) {
    if (installationId !== null) {
      out.push({ repo, installationId });
      continue;
    }
    if (!deps.repositories || !REPO_NAME.test(repo) || (notInstalled.get(repo) ?? 0) > now) continue;
    try {
      out.push({ repo, installationId: (await deps.repositories.resolve(repo)).installationId });
      notInstalled.delete(repo);
    } catch (err) {
      if (err instanceof RepositoryNotInstalled) {
        notInstalled.set(repo, now + ttlMs);
        deps.log.info(`drift: ${repo} has records but the App is not installed there: not checked`);
      } else
        deps.log.warn(
          `drift: the installation of ${repo} cannot be read now, not checked this round: ${(err as Error).message}`,
        );
    }
  }
  return out;
}

async function readRepo(deps: DriftLoopDeps, fullName: string, installationId: number): Promise<RepoEntry> {
  const [owner, name] = fullName.split("/") as [string, string];
  const octokit = await deps.octokitFor(installationId);
  const { data } = await octokit.rest.repos.get({ owner, repo: name });
  const ref: RepoRef = {
    installationId,
    owner,
    name,
    fullName,
    cloneUrl: data.clone_url,
    defaultBranch: data.default_branch,
  };
  const git = await deps.worker.mirrors.ensure(
    { cloneUrl: ref.cloneUrl, fullName },
    { token: await installationToken(octokit), refs: [`refs/heads/${ref.defaultBranch}`] },
  );
  return {
    ref,
    octokit,
    policy: await loadPolicy(git, ref.defaultBranch, undefined, deps.worker.limits),
    readAt: Date.now(),
  };
}

/** The recorded commit of one stack, planned with force for the drifted hosts and deployed by runPlan. */
async function heal(
  deps: DriftLoopDeps,
  known: Map<string, RepoEntry>,
  req: HealRequest,
): Promise<HealHostResult[]> {
  const entry = known.get(req.repo);
  if (!entry) throw new Error(`${req.repo} is not known to this round`);
  const ctx: JobContext = {
    deps: deps.worker,
    octokit: entry.octokit,
    ref: entry.ref,
    owner: entry.ref.owner,
    repo: entry.ref.name,
    delivery: "drift",
    log: deps.log,
  };
  const repo = await mirrorAt(ctx, [req.commit, `refs/heads/${entry.ref.defaultBranch}`]);
  const hosts = req.targets.map((t) => t.host);
  const { plan, head, images } = await planJob(ctx, repo, {
    base: req.commit,
    head: req.commit,
    defaultBranch: entry.ref.defaultBranch,
    force: true,
    // Stack and host names are plain (no glob characters): these match exactly them.
    only: { stacks: [req.stack], hosts },
  });
  const targets = plan.stacks.find((s) => s.name === req.stack)?.targets ?? [];
  const refused: HealHostResult[] = targets
    .filter((t) => t.action === "skip")
    .map((t) => ({ host: t.host, status: "refused", error: t.reasons.join("; ") }));
  const results = await runPlan({
    repo,
    repoId: req.repo,
    plan,
    head,
    hosts: deps.worker.hosts,
    remote: deps.worker.remote,
    makeDeployer: (runner) =>
      new HostDeployer(runner, { ...deps.worker.engine, lockOwner: deps.worker.installationId }),
    ledger: healLedger(deps.worker.store, req.targets),
    actor: "stackpilot",
    trigger: "heal",
    log: deps.log,
    images: { plan: images, registries: deps.worker.registries ?? [] },
  });
  return [
    ...refused,
    ...results.map((r): HealHostResult => {
      const status =
        r.status === "succeeded" ? "succeeded" : r.status === "superseded" ? "superseded" : "failed";
      return {
        host: r.host,
        status,
        ...(r.error ? { error: r.error } : {}),
        ...(r.deploymentId !== undefined ? { deploymentId: r.deploymentId } : {}),
      };
    }),
  ];
}
