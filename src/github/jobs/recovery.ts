/**
 * Crash recovery in the App: a deploy whose process died (SIGKILL, OOM, a lost host of the App)
 * is found here, recorded, and shown as ended on GitHub; the durable queue retries its job (a job
 * whose worker stops heartbeating is failed and retried, see jobQueue.ts), and the retry deploys
 * what is still missing (deploy-if-changed makes that idempotent).
 *
 * Every round: 1. deployments still running without their target's database lock become
 * interrupted (and queued ones of a rollout that ended without them), 2. rollouts still running
 * without their lease become interrupted, 3. every ended rollout GitHub does not show as ended yet
 * gets its final Deployment status and check run (a failure to reach GitHub is tried again the
 * next round). Any replica may run a round; one at a time (a database lock), every few seconds,
 * so a restart or another replica on the same database finds an interrupted deploy within a
 * minute.
 */

import { errorText } from "../../deploy/hostDeploy.ts";
import type { Deployment } from "../../state/deployments.ts";
import type { Rollout } from "../../state/rollouts.ts";
import type { Store } from "../../state/store.ts";
import { startRounds } from "../../util/rounds.ts";
import { type DeploymentState, setDeploymentStatus } from "../api/deployments.ts";
import { type DeployResult, deployCheckRun } from "../render/checkRun.ts";
import type { Octokit } from "./jobContext.ts";

export const INTERRUPTED_ROLLOUT =
  "interrupted: Stackpilot stopped during this rollout; its job is retried and deploys what is still missing";

export interface RecoveryDeps {
  store: Store;
  /** An installation's Octokit (the App's base URL: GitHub Enterprise too). */
  octokitFor(installationId: number): Promise<Octokit>;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** Who runs the round, for the round's database lock. */
  holder: string;
}

export interface RecoveryRound {
  deployments: Deployment[];
  /** Rollouts whose final state GitHub now shows. */
  reported: Rollout[];
}

const ROUND_LOCK = "recovery";

/** One round; undefined when another replica runs one right now. */
export async function recoverOnce(deps: RecoveryDeps): Promise<RecoveryRound | undefined> {
  const { store } = deps;
  if (!(await store.acquireLock(ROUND_LOCK, deps.holder, 60_000))) return undefined;
  try {
    const deployments = await store.recoverInterrupted();
    for (const d of deployments)
      deps.log.warn(
        `deployment #${d.id} (${d.stack} on ${d.host}, ${d.commit.slice(0, 7)}) was interrupted: its deployer stopped mid-deploy`,
      );
    const reported: Rollout[] = [];
    for (const r of await store.interruptedRollouts(INTERRUPTED_ROLLOUT)) {
      try {
        await report(deps, r);
        await store.markRolloutReported(r.id);
        reported.push(r);
      } catch (err) {
        deps.log.warn(`could not show rollout #${r.id}'s end on GitHub yet: ${errorText(err)}`);
      }
    }
    // Queued deployments of the rollouts just found interrupted never start: ended now, not a round later.
    if (reported.length) deployments.push(...(await store.recoverInterrupted()));
    return { deployments, reported };
  } finally {
    await store.releaseLock(ROUND_LOCK, deps.holder).catch(() => false);
  }
}

/** Rounds every `intervalMs`, the first at once; a round never overlaps the one before. */
export function startRecovery(deps: RecoveryDeps & { intervalMs?: number }): { stop(): Promise<void> } {
  const { stop } = startRounds(
    () => recoverOnce(deps),
    deps.intervalMs ?? 15_000,
    (err) => deps.log.error(`recovery round failed: ${errorText(err)}`),
  );
  return { stop };
}

/** The rollout's final Deployment status and check run, from its deployments as recorded. */
async function report(deps: RecoveryDeps, r: Rollout): Promise<void> {
  const [owner, repo] = r.repo.split("/") as [string, string];
  const octokit = await deps.octokitFor(r.installationId);
  const deployments = await deps.store.listDeployments({ rolloutId: r.id, limit: 1000 });
  const results = deployments.map(resultOf);
  const failed = results.filter((x) => x.conclusion !== "success").length;
  if (r.githubDeploymentId !== null) {
    const state: DeploymentState = r.status === "interrupted" ? "error" : failed ? "failure" : "success";
    await setDeploymentStatus(octokit, {
      owner,
      repo,
      deployment_id: r.githubDeploymentId,
      state,
      description:
        r.status === "interrupted"
          ? "interrupted: Stackpilot stopped during this deploy; it is retried"
          : `${results.length - failed} of ${results.length} deployed`,
    });
  }
  if (r.checkRunId !== null) {
    const { head_sha: _sha, ...params } = deployCheckRun(r.environment, results, {
      headSha: r.commit,
      completedAt: new Date().toISOString(),
    }).params;
    await octokit.rest.checks.update({ owner, repo, check_run_id: r.checkRunId, ...params });
  }
  deps.log.info(
    `rollout #${r.id} (${r.repo} ${r.environment} ${r.commit.slice(0, 7)}) shown as ${r.status} on GitHub`,
  );
}

function resultOf(d: Deployment): DeployResult {
  const succeeded = d.status === "succeeded" || d.status === "superseded";
  const pending = d.status === "queued" || d.status === "running";
  return {
    stack: d.stack,
    host: d.host,
    // A rollout that ended has no pending target left; one still listed so never got to run.
    status: "completed",
    conclusion: succeeded ? "success" : "failure",
    ...(succeeded
      ? {}
      : { error: pending ? "never ran: the rollout was interrupted first" : (d.error ?? d.status) }),
  };
}
