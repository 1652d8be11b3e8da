/**
 * Roll one stack back on one host, recorded: a `rollback` deployment with its command log, under
 * the database lock of the (stack, host), the retained release re-activated without a rebuild,
 * and the host pinned to it (automatic deploys leave it alone until an explicit deploy).
 * Shared by `stackpilot rollback` and the App's `/rollback`.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import { deployLockKey } from "../state/deployments.ts";
import { DB_LOCK_TTL_MS } from "./dbLocks.ts";
import { type EngineOptions, errorText, HostDeployer } from "./hostDeploy.ts";
import { detectCompose, hostTarget } from "./hostTarget.ts";
import type { DeployLedger } from "./orchestrate.ts";
import { type RemoteExec, Runner } from "./runner.ts";

export interface RollbackHostInput {
  /** The ledger a plan's deploys record in (it uses `interruptOthers` of the optional parts). */
  store: DeployLedger;
  remote: RemoteExec;
  host: HostConfig;
  repo: string;
  stack: string;
  /** What is deployed there now, for the deployment record. */
  deployed: { commit: string; fingerprint: string };
  /** A retained release (commit, or a prefix of it); default: the one before the current. */
  to?: string;
  actor: string;
  engine?: Partial<EngineOptions>;
}

export type RollbackHostResult = { ok: true; from?: string; to: string } | { ok: false; error: string };

export async function rollbackHost(input: RollbackHostInput): Promise<RollbackHostResult> {
  const { store, host, repo, stack } = input;
  const id = await store.createDeployment({
    repo,
    stack,
    host: host.name,
    commit: input.to ?? input.deployed.commit,
    fingerprint: input.deployed.fingerprint,
    actor: input.actor,
    trigger: "rollback",
  });
  const runner = new Runner(input.remote, {
    onRecord: (r) =>
      void store.appendCommandLog(id, { command: r.line, code: r.code, output: `${r.stdout}${r.stderr}` }),
  });
  try {
    return await store.withLock(
      deployLockKey({ repo, stack, host: host.name }),
      `${input.actor} (rollback)`,
      DB_LOCK_TTL_MS,
      async (signal) => {
        await store.interruptOthers?.({ repo, stack, host: host.name }, id);
        await store.startDeployment(id);
        const deployer = new HostDeployer(runner, input.engine);
        const r = await deployer.rollback(
          hostTarget(host, await detectCompose(runner, host)),
          stack,
          input.actor,
          input.to,
          signal,
        );
        await store.setDeployed({
          repo,
          stack,
          host: host.name,
          fingerprint: r.manifest.fingerprint,
          commit: r.manifest.commit,
          release: r.to,
          deploymentId: id,
          expected: r.expected,
          pinned: true,
        });
        await store.finishDeployment(id, { status: "succeeded", release: r.to });
        return { ok: true as const, ...(r.from ? { from: r.from } : {}), to: r.to };
      },
    );
  } catch (err) {
    await store.finishDeployment(id, { status: "failed", error: errorText(err) }).catch(() => {});
    return { ok: false, error: errorText(err) };
  }
}
