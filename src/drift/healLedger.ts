/**
 * The ledger a heal deploys with: the store's, with one more reason to give way. A heal redeploys
 * what the record says runs there; should the record change while the heal waits for the target
 * (a deploy of a newer commit, a rollback pinning it), the heal is superseded once it holds the
 * target's lock, so it never undoes what happened meanwhile. (A heal also never supersedes a
 * waiting deploy: state/deployments.ts `supersedeIfStale`.)
 */
import type { DeployLedger } from "../deploy/orchestrate.ts";
import type { Store } from "../state/store.ts";

export interface HealExpectation {
  repo: string;
  stack: string;
  host: string;
  commit: string;
  /** The deployment the record was made by when the round read it. */
  deploymentId: number | null;
}

export function healLedger(
  store: Store,
  expected: readonly HealExpectation[],
): DeployLedger & Required<Pick<DeployLedger, "supersedeIfStale">> {
  const byDeployment = new Map<number, HealExpectation>();
  return {
    createDeployment: async (input) => {
      const id = await store.createDeployment(input);
      const e = expected.find((x) => x.stack === input.stack && x.host === input.host);
      if (e) byDeployment.set(id, e);
      return id;
    },
    startDeployment: (id) => store.startDeployment(id),
    finishDeployment: (id, input) => store.finishDeployment(id, input),
    appendCommandLog: (id, input) => store.appendCommandLog(id, input),
    setDeployed: (input) => store.setDeployed(input),
    withLock: (key, holder, ttl, fn, details) => store.withLock(key, holder, ttl, fn, details),
    startBuild: (input) => store.startBuild(input),
    finishBuild: (id, result) => store.finishBuild(id, result),
    supersedeIfStale: async (id) => {
      if (await store.supersedeIfStale(id)) return true;
      const e = byDeployment.get(id);
      if (!e) return false;
      const now = (await store.getDeployed(e.repo)).find((d) => d.stack === e.stack && d.host === e.host);
      const same = now && !now.pinned && now.commit === e.commit && now.deploymentId === e.deploymentId;
      return same
        ? false
        : store.supersedeDeployment(id, "the record changed while this heal waited: not healed");
    },
  };
}
