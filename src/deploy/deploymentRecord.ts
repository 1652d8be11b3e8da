/**
 * A target's deployment in the ledger: every command it runs recorded (bounded and redacted
 * there), its outcome (logs, what is deployed now, its end), and which errors are the field's
 * rather than bugs of ours (those are logged with the deployment id).
 */
import type { StackSnapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import { LockBusyError, LockLostError } from "../state/locks.ts";
import { ImageStepError } from "./build.ts";
import { HookFailed, type HookJournal, type HookRun } from "./hookSteps.ts";
import { DeployRefused, type DeployResult } from "./hostDeploy.ts";
import { LockedError } from "./hostLock.ts";
import { type DeployLedger, EXPLICIT, type OrchestrateInput } from "./orchestrate.ts";
import { type CommandRecord, RemoteCommandError, Runner } from "./runner.ts";
import { SshError } from "./ssh/errors.ts";

/** A runner recording every command of the deployment in the ledger (bounded and redacted there). */
export function commandLog(
  input: Pick<OrchestrateInput, "remote" | "ledger">,
  redact: (text: string) => string,
  deploymentId: number,
) {
  const logs: Promise<unknown>[] = [];
  const runner = new Runner(input.remote, {
    redact,
    onRecord: (r: CommandRecord) => {
      logs.push(
        input.ledger.appendCommandLog(deploymentId, {
          command: r.line,
          code: r.code,
          output: `${r.stdout}${r.stderr}`,
        }),
      );
    },
  });
  return {
    runner,
    flushed: () => Promise.all(logs),
    settled: () => Promise.allSettled(logs),
  };
}

/**
 * The deployment's hook attempts in the ledger (when it keeps them: the state store does), and in
 * `runs` for the result. A ledger that fails to record never fails the hook.
 */
export function hookJournal(ledger: DeployLedger, deploymentId: number): HookJournal & { runs: HookRun[] } {
  const runs: HookRun[] = [];
  return {
    runs,
    priorAttempts: async () => (await ledger.priorHookAttempts?.(deploymentId)) ?? {},
    started: async (hook, attempt, required) =>
      ledger.startHookRun?.(deploymentId, { hook, attempt, required }),
    finished: async (token, run) => {
      runs.push(run);
      if (token !== undefined) await ledger.finishHookRun?.(token, run);
    },
  };
}

/**
 * The subject line of a commit (shown with its deployments), read from the commit object (at most
 * 64 KiB); null when it cannot be read: a deploy never fails for want of it.
 */
export async function commitSubject(
  repo: Pick<GitRepo, "readBlobsWithin">,
  commit: string,
): Promise<string | null> {
  try {
    const { blobs } = await repo.readBlobsWithin([commit], 64 * 1024);
    const raw = blobs.get(commit)?.toString("utf8");
    if (raw === undefined) return null;
    const body = raw.indexOf("\n\n");
    return body < 0 ? null : (raw.slice(body + 2).split("\n", 1)[0] ?? "").trim() || null;
  } catch {
    return null;
  }
}

/** The deployment's outcome in the ledger: its logs, what is deployed now, its end. */
export async function recordOutcome(
  input: OrchestrateInput,
  job: { stack: string; host: string },
  stack: StackSnapshot,
  deploymentId: number,
  result: DeployResult,
): Promise<void> {
  if (result.failureLogs) {
    await input.ledger.appendCommandLog(deploymentId, {
      command: "(compose logs of the failed release)",
      code: null,
      output: result.failureLogs,
    });
  }
  if (result.status === "succeeded") {
    await input.ledger.setDeployed({
      repo: input.repoId,
      stack: job.stack,
      host: job.host,
      fingerprint: stack.fingerprint,
      commit: input.head.commit,
      release: result.release,
      deploymentId,
      expected: result.expected ?? null,
      ...(EXPLICIT.has(input.trigger) ? { pinned: false } : {}),
    });
  }
  await input.ledger.finishDeployment(deploymentId, {
    status: result.status,
    error: result.error ?? null,
    timings: result.timings,
    release: result.release,
  });
}

/** Errors a deploy can meet in the field (a host, a lock, a command, a refusal): no bug of ours. */
export function expected(err: unknown): boolean {
  return (
    err instanceof RemoteCommandError ||
    err instanceof DeployRefused ||
    err instanceof LockedError ||
    err instanceof LockLostError ||
    err instanceof LockBusyError ||
    err instanceof SshError ||
    err instanceof ImageStepError ||
    err instanceof HookFailed ||
    (err instanceof Error && err.name === "AbortError")
  );
}
