/**
 * May this principal unlock a stack's target in a repository? The static token: where
 * STACKPILOT_UI_TOKEN_WRITE's globs say so. A GitHub user: what `/unlock` needs in the stack's
 * environment, by the same rules (policy/authorize.ts `authorizePermission`), read from the
 * DEFAULT BRANCH's config through the App's mirror, with the user's repository permission and
 * teams as GitHub tells the App's installation (as github/jobs/permissions.ts gathers them). A
 * pull request's approval requirement has no pull request to apply to here: permission and
 * teams decide.
 */
import { installationToken } from "../../github/jobs/jobContext.ts";
import { teamsOf } from "../../github/jobs/permissions.ts";
import { type AuthorizeResult, authorizePermission, effectivePermission } from "../../policy/authorize.ts";
import { loadPolicy } from "../../policy/load.ts";
import { policySource, stackEnvironment } from "../../policy/policy.ts";
import type { UiDeps } from "../context.ts";
import type { Principal } from "./principal.ts";

export async function mayUnlock(
  deps: UiDeps,
  principal: Principal,
  target: { repo: string; stack: string },
): Promise<AuthorizeResult> {
  if (principal.kind === "token") {
    return deps.settings.token?.mayWrite(target.repo)
      ? { ok: true }
      : { ok: false, reason: `the UI token may not unlock in ${target.repo} (STACKPILOT_UI_TOKEN_WRITE)` };
  }
  const readable = principal.readable.get(target.repo.toLowerCase());
  if (!readable) return { ok: false, reason: `${principal.login} cannot read ${target.repo}` };
  const [owner, repo] = readable.repo.split("/") as [string, string];
  const octokit = await deps.installation(readable.installationId);
  const { data: info } = await octokit.rest.repos.get({ owner, repo });
  const branch = info.default_branch;
  const mirror = await deps.mirrors.ensure(
    { cloneUrl: info.clone_url, fullName: readable.repo },
    { token: await installationToken(octokit), refs: [`refs/heads/${branch}`] },
  );
  const policy = await loadPolicy(mirror, branch);
  const environment = stackEnvironment(policy, target.stack);
  const rules = policy.environments.get(environment);
  const source = policySource(policy);
  if (!rules)
    return {
      ok: false,
      reason: `environment ${environment} is not defined on the default branch (${source})`,
    };
  const { data: perm } = await octokit.rest.repos.getCollaboratorPermissionLevel({
    owner,
    repo,
    username: principal.login,
  });
  const verdict = authorizePermission({
    action: "unlock",
    actor: { login: principal.login, type: "User" },
    botAllowlist: deps.botAllowlist ?? [],
    permission: effectivePermission(perm),
    teams: await teamsOf(octokit, principal.login, rules.teams),
    environment: rules,
  });
  return verdict.ok ? verdict : { ok: false, reason: `${verdict.reason} (rules of ${source})` };
}
