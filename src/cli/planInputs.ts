/**
 * What `deploy` and `run --dry-run` plan a commit against, besides the commit: the hosts file,
 * the stacks stopped on purpose, the builds to reuse, and the rules of the default branch
 * (origin/HEAD, else main, else master), which the App also reads them from.
 */
import { hostRefs } from "../config/hostsFile.ts";
import type { ParseLimits } from "../detect/blobReader.ts";
import type { GitRepo } from "../git/repo.ts";
import { loadPolicy, localDefaultBranch } from "../policy/load.ts";
import type { Session } from "./session.ts";

/** The default branch and the policy its config sets: where each environment may go, its procedures. */
export async function defaultBranchPolicy(repo: GitRepo, limits: ParseLimits) {
  const rules = await localDefaultBranch(repo);
  return { branch: rules.branch, policy: await loadPolicy(repo, rules.branch, rules.ref, limits) };
}

export type SessionPlanOptions = Awaited<ReturnType<typeof sessionPlanOptions>>["options"];

/** planDeploy's options that come from the session and the default branch (all but the commits). */
export async function sessionPlanOptions(
  session: Session,
  repo: GitRepo,
  repoId: string,
  limits: ParseLimits,
) {
  const { branch, policy } = await defaultBranchPolicy(repo, limits);
  const options = {
    hosts: hostRefs(session.hosts),
    stopped: await session.store.listStopped(repoId),
    policy: { policy, repoId },
    inventory: session.inventory,
    repoId,
    builds: await session.store.listReusableBuilds(repoId),
    limits,
  };
  return { defaultBranch: branch, options };
}
