/**
 * The worker: runs the jobs webhooks queued. One function per job kind; each reads like the
 * steps it takes. Deploys go through rollout.ts, plans through planPr.ts / planRange.
 */

import type { Probot } from "probot";
import { errorText } from "../deploy/hostDeploy.ts";
import { isSuccess } from "../deploy/orchestrate.ts";
import { rollbackHost } from "../deploy/rollbackHost.ts";
import { GITHUB_TEXT_LIMIT, rowsWithin } from "../plan/render/markdown.ts";
import { deployLockKey } from "../state/deployments.ts";
import { compileGlob } from "../util/glob.ts";
import { authorizeDeploy, effectivePermission, type ReviewFact } from "./authorize.ts";
import { fromHostJobResult, PLAN_CHECK_NAME, planCheckRun } from "./checkRun.ts";
import { HELP_TEXT, type ParsedCommand, parseCommands } from "./commands.ts";
import type { GithubJob, RepoRef } from "./events.ts";
import { type JobContext, mirrorAt, type Octokit, planJob, type WorkerDeps } from "./jobContext.ts";
import { type PullRequestFacts, plannedSha, planPullRequest } from "./planPr.ts";
import { type EnvironmentOutcome, type LastRun, type RollbackOutcome, showLastRun } from "./prComment.ts";
import { react } from "./reactions.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

export function createWorker(deps: WorkerDeps, app: Pick<Probot, "auth" | "log">) {
  return async (job: GithubJob): Promise<void> => {
    const octokit = (await app.auth(job.repo.installationId)) as Octokit;
    const ctx: JobContext = {
      deps,
      octokit,
      ref: job.repo,
      owner: job.repo.owner,
      repo: job.repo.name,
      log: { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m) },
    };
    switch (job.kind) {
      case "plan-pr":
        await planPullRequest(ctx, job.pr);
        return;
      case "push":
        await onPush(ctx, job);
        return;
      case "comment":
        await onComment(ctx, job);
        return;
      case "deploy-button":
        await deployFromPullRequest(ctx, job.pr, job.actor, {
          kind: "deploy",
          stacks: [],
          force: false,
          line: 0,
          via: "slash",
        });
        return;
    }
  };
}

/**
 * A push: 1. plan it against the previous commit (check run on the new head), 2. unless a newer
 * commit already moved the branch on, deploy every environment whose `deploy_on` is `merge`
 * (and whose branch this is), 3. when the push is a PR's merge, show the results in that PR's
 * Stackpilot comment, where its plan was read.
 */
async function onPush(ctx: JobContext, job: Extract<GithubJob, { kind: "push" }>): Promise<void> {
  const repo = await mirrorAt(ctx, [`refs/heads/${job.branch}`]);
  const { plan, head, images } = await planJob(ctx, repo, {
    base: job.before,
    head: job.after,
    defaultBranch: job.repo.defaultBranch,
  });
  const check = planCheckRun(plan, { headSha: job.after, name: PLAN_CHECK_NAME });
  await ctx.octokit.rest.checks.create({ owner: ctx.owner, repo: ctx.repo, ...check.params });
  if (!plan.ok) return;
  const tip = await repo.resolveCommit(`refs/heads/${job.branch}`);
  if (tip && tip !== job.after) {
    ctx.log.info(
      `${job.repo.fullName}@${job.branch}: ${job.after.slice(0, 7)} superseded by ${tip.slice(0, 7)}; not deploying it`,
    );
    return;
  }
  const actor = job.pusher ?? "merge";
  const outcomes: EnvironmentOutcome[] = [];
  for (const env of environmentsToDeploy(plan)) {
    const config = head.config.environments[env];
    if (config?.deploy_on !== "merge" || (config.branch ?? job.repo.defaultBranch) !== job.branch) continue;
    const results = await rollout(ctx, {
      plan,
      head,
      images,
      repo,
      environment: env,
      trigger: "merge",
      actor,
      ...(config.url ? { environmentUrl: config.url } : {}),
    });
    outcomes.push({ name: env, results: results.map(fromHostJobResult) });
  }
  if (outcomes.length === 0) return;
  const pr = await mergedPullRequest(ctx, job.after, job.branch);
  if (pr !== undefined)
    await showResults(ctx, pr, {
      kind: "deploy",
      trigger: "merge",
      sha: job.after,
      actor,
      at: new Date(),
      environments: outcomes,
    });
}

/**
 * The PR whose merge made `sha` the tip of `branch`: merged into that branch with `sha` as its
 * merge commit (merge, squash and rebase merges all set it). A direct push has none; an open PR
 * that merely contains the commit is not it. A lookup failure is logged: the deploy has run.
 */
async function mergedPullRequest(ctx: JobContext, sha: string, branch: string): Promise<number | undefined> {
  try {
    const { data } = await ctx.octokit.rest.repos.listPullRequestsAssociatedWithCommit({
      owner: ctx.owner,
      repo: ctx.repo,
      commit_sha: sha,
    });
    return data.find((p) => p.merged_at && p.merge_commit_sha === sha && p.base.ref === branch)?.number;
  } catch (err) {
    ctx.log.warn(`could not find the pull request merged as ${sha.slice(0, 7)}: ${errorText(err)}`);
    return undefined;
  }
}

/** A PR comment: 1. find the command, 2. acknowledge with 👀, 3. run it, 4. 🚀 or 😕 and a reply. */
async function onComment(ctx: JobContext, job: Extract<GithubJob, { kind: "comment" }>): Promise<void> {
  const [command] = parseCommands(job.body, ctx.deps.appSlug);
  if (!command) return;
  if (job.actor.type === "Bot" && !(ctx.deps.botAllowlist ?? []).includes(job.actor.login)) return;
  const reactTo = (content: "eyes" | "rocket" | "confused") =>
    react(ctx.octokit, { owner: ctx.owner, repo: ctx.repo, comment_id: job.commentId, content });
  await reactTo("eyes");
  let ok = true;
  try {
    ok = await runCommand(ctx, job.pr, job.actor, command);
  } catch (err) {
    ok = false;
    await reply(
      ctx,
      job.pr,
      `Stackpilot could not run \`${command.kind}\`: ${errorText(err).slice(0, 2000)}`,
    );
  }
  await reactTo(ok ? "rocket" : "confused");
}

async function runCommand(
  ctx: JobContext,
  pr: number,
  actor: { login: string; type: string },
  command: ParsedCommand,
): Promise<boolean> {
  switch (command.kind) {
    case "plan":
      await planPullRequest(ctx, pr);
      return true;
    case "help":
      await reply(ctx, pr, HELP_TEXT);
      return true;
    case "unknown":
      await reply(ctx, pr, `Unknown command \`${command.name}\`.\n\n${HELP_TEXT}`);
      return false;
    case "invalid":
      await reply(ctx, pr, command.error);
      return false;
    case "status":
      await reply(ctx, pr, await statusText(ctx));
      return true;
    case "deploy":
      return deployFromPullRequest(ctx, pr, actor, command);
    case "rollback":
      return rollbackFromPullRequest(ctx, pr, actor, command);
    case "unlock":
      return unlockFromPullRequest(ctx, pr, actor, command);
  }
}

/**
 * `/deploy` (or the Deploy button): 1. plan the PR head, restricted as asked, 2. check every
 * environment it touches against its rules (permission, approvals, fork, plan bound to the head),
 * 3. roll out the allowed ones, 4. show the per (stack, host) results in the PR's Stackpilot
 * comment (when anything was rolled out) and reply with a summary.
 */
async function deployFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: { login: string; type: string },
  command: Extract<ParsedCommand, { kind: "deploy" }>,
): Promise<boolean> {
  const planned = await planPullRequest(ctx, prNumber, {
    report: false,
    force: command.force,
    only: { stacks: command.stacks, hosts: command.host ? [command.host] : [] },
  });
  const { pr, plan, head, repo, images } = planned;
  if (!plan.ok) {
    await reply(
      ctx,
      prNumber,
      "The plan for this pull request has configuration errors; nothing was deployed. See the `stackpilot/plan` check run.",
    );
    return false;
  }
  const envs = environmentsToDeploy(plan).filter((e) => !command.env || e === command.env);
  if (envs.length === 0) {
    await reply(
      ctx,
      prNumber,
      `Nothing to deploy at \`${pr.headSha.slice(0, 7)}\`${command.env ? ` to ${command.env}` : ""}: every target already runs this content.`,
    );
    return true;
  }
  const facts = await deployFacts(ctx, pr, actor);
  const lines: string[] = [];
  const outcomes: EnvironmentOutcome[] = [];
  let ok = true;
  for (const env of envs) {
    const config = head.config.environments[env];
    const verdict = authorizeDeploy({
      actor: { login: actor.login, type: actor.type },
      botAllowlist: ctx.deps.botAllowlist ?? [],
      permission: facts.permission,
      teams: await teamsOf(ctx, actor.login, config?.teams ?? []),
      environment: { name: env, ...(config ?? {}) },
      pr: {
        headRepo: pr.headRepo,
        baseRepo: pr.baseRepo,
        reviews: facts.reviews,
        headSha: pr.headSha,
        planSha: facts.planSha,
      },
    });
    if (!verdict.ok) {
      ok = false;
      lines.push(`- **${env}**: refused: ${verdict.reason}`);
      outcomes.push({ name: env, refused: verdict.reason });
      continue;
    }
    const results = await rollout(ctx, {
      plan,
      head,
      images,
      repo,
      environment: env,
      trigger: "command",
      actor: actor.login,
      ...(config?.url ? { environmentUrl: config.url } : {}),
    });
    const failed = results.filter((r) => !isSuccess(r));
    if (failed.length) ok = false;
    outcomes.push({ name: env, results: results.map(fromHostJobResult) });
    lines.push(
      `- **${env}**: ${results.length - failed.length} of ${results.length} deployed${failed.length ? `; failed: ${failed.map((f) => `\`${f.stack}\` on \`${f.host}\` (${(f.error ?? "").split("\n").at(-1)?.slice(0, 200)})`).join(", ")}` : ""}`,
    );
  }
  // A refusal alone leaves the last real deploy on show; the reply says why.
  const shown = outcomes.some((o) => o.results)
    ? await showResults(ctx, prNumber, {
        kind: "deploy",
        sha: pr.headSha,
        actor: actor.login,
        at: new Date(),
        environments: outcomes,
      })
    : "";
  await reply(
    ctx,
    prNumber,
    `Deploy of \`${pr.headSha.slice(0, 7)}\` requested by @${actor.login}:\n\n${lines.join("\n")}${shown}`,
  );
  return ok;
}

/**
 * Put a command's results into the PR's Stackpilot comment; returns a line for the reply that
 * links there. A failure to edit the comment is logged, not fatal: what ran has run.
 */
async function showResults(ctx: JobContext, prNumber: number, run: LastRun): Promise<string> {
  try {
    const { comment } = await showLastRun(ctx, prNumber, run);
    return comment.html_url ? `\n\nPer stack and host: [the Stackpilot comment](${comment.html_url}).` : "";
  } catch (err) {
    ctx.log.warn(`could not show the ${run.kind} results in the PR comment: ${errorText(err)}`);
    return "";
  }
}

async function deployFacts(ctx: JobContext, pr: PullRequestFacts, actor: { login: string }) {
  const { data: perm } = await ctx.octokit.rest.repos.getCollaboratorPermissionLevel({
    owner: ctx.owner,
    repo: ctx.repo,
    username: actor.login,
  });
  const reviews = (await ctx.octokit.paginate(ctx.octokit.rest.pulls.listReviews, {
    owner: ctx.owner,
    repo: ctx.repo,
    pull_number: pr.number,
    per_page: 100,
  })) as ReviewFact[];
  return { permission: effectivePermission(perm), reviews, planSha: await plannedSha(ctx, pr.headSha) };
}

/** The actor's memberships among the given `org/team` slugs. */
async function teamsOf(ctx: JobContext, login: string, teams: readonly string[]): Promise<string[]> {
  const member: string[] = [];
  for (const slug of teams) {
    const [org, team_slug] = slug.split("/") as [string, string];
    try {
      const { data } = await ctx.octokit.rest.teams.getMembershipForUserInOrg({
        org,
        team_slug,
        username: login,
      });
      if (data.state === "active") member.push(slug);
    } catch {
      // 404: not a member
    }
  }
  return member;
}

/** `/rollback STACK [--to SHA] [--host GLOB]`: needs write permission; pins the stack where it rolls back. */
async function rollbackFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: { login: string },
  command: Extract<ParsedCommand, { kind: "rollback" }>,
): Promise<boolean> {
  if (!(await mayWrite(ctx, prNumber, actor.login, "roll back"))) return false;
  const hostOk = command.host ? compileGlob(command.host) : () => true;
  const targets = (await ctx.deps.store.getDeployed(ctx.ref.fullName)).filter(
    (d) => d.stack === command.stack && hostOk(d.host),
  );
  if (targets.length === 0) {
    await reply(
      ctx,
      prNumber,
      `\`${command.stack}\` is not deployed on any${command.host ? " matching" : ""} host.`,
    );
    return false;
  }
  const lines: string[] = [];
  const hosts: RollbackOutcome[] = [];
  let ok = true;
  for (const d of targets) {
    const config = ctx.deps.hosts.find((h) => h.name === d.host);
    if (!config) continue;
    const r = await rollbackHost({
      store: ctx.deps.store,
      remote: ctx.deps.remote,
      host: config,
      repo: ctx.ref.fullName,
      stack: d.stack,
      deployed: d,
      ...(command.to ? { to: command.to } : {}),
      actor: actor.login,
      engine: { ...ctx.deps.engine, lockOwner: ctx.deps.installationId },
    });
    if (r.ok) {
      lines.push(
        `- \`${d.host}\`: \`${r.from?.slice(0, 7) ?? "none"}\` → \`${r.to.slice(0, 7)}\` (pinned until the next explicit deploy)`,
      );
      hosts.push({ host: d.host, ...(r.from ? { from: r.from } : {}), to: r.to });
    } else {
      ok = false;
      lines.push(`- \`${d.host}\`: failed: ${r.error.split("\n").at(-1)?.slice(0, 300)}`);
      hosts.push({ host: d.host, from: d.commit, error: r.error });
    }
  }
  const shown = hosts.length
    ? await showResults(ctx, prNumber, {
        kind: "rollback",
        stack: command.stack,
        actor: actor.login,
        at: new Date(),
        hosts,
      })
    : "";
  await reply(ctx, prNumber, `Rollback of \`${command.stack}\`:\n\n${lines.join("\n")}${shown}`);
  return ok;
}

/** `/unlock STACK [--host GLOB]`: frees the database locks of a stack (not the hosts' own). */
async function unlockFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: { login: string },
  command: Extract<ParsedCommand, { kind: "unlock" }>,
): Promise<boolean> {
  if (!(await mayWrite(ctx, prNumber, actor.login, "unlock"))) return false;
  const hostOk = command.host ? compileGlob(command.host) : () => true;
  const freed: string[] = [];
  for (const h of ctx.deps.hosts.filter((x) => hostOk(x.name))) {
    if (
      await ctx.deps.store.forceUnlock(
        deployLockKey({ repo: ctx.ref.fullName, stack: command.stack, host: h.name }),
      )
    )
      freed.push(h.name);
  }
  await reply(
    ctx,
    prNumber,
    freed.length
      ? `Unlocked \`${command.stack}\` on ${freed.map((h) => `\`${h}\``).join(", ")}.`
      : `\`${command.stack}\` held no lock${command.host ? " on matching hosts" : ""}.`,
  );
  return true;
}

async function mayWrite(ctx: JobContext, prNumber: number, login: string, what: string): Promise<boolean> {
  const { data } = await ctx.octokit.rest.repos.getCollaboratorPermissionLevel({
    owner: ctx.owner,
    repo: ctx.repo,
    username: login,
  });
  const permission = effectivePermission(data);
  if (permission === "write" || permission === "maintain" || permission === "admin") return true;
  await reply(
    ctx,
    prNumber,
    `@${login} needs write permission on this repository to ${what} (has: ${permission}).`,
  );
  return false;
}

/** `/status`: what is deployed where, within a comment's size (a big repository has thousands of rows). */
async function statusText(ctx: JobContext): Promise<string> {
  const deployed = await ctx.deps.store.getDeployed(ctx.ref.fullName);
  if (deployed.length === 0) return "Nothing from this repository is deployed yet.";
  const rows = deployed.map(
    (d) =>
      `| \`${d.stack}\` | \`${d.host}\` | \`${d.commit.slice(0, 7)}\` | ${d.pinned ? "📌 pinned" : ""} | ${d.deployedAt.toISOString()} |`,
  );
  return rowsWithin("| Stack | Host | Commit | | Deployed at |\n|---|---|---|---|---|\n", rows, STATUS_LIMIT);
}

/** Characters of a `/status` reply: GitHub's comment limit, less room for the rest. */
const STATUS_LIMIT = GITHUB_TEXT_LIMIT - 1_000;

async function reply(ctx: JobContext, pr: number, body: string): Promise<void> {
  await ctx.octokit.rest.issues.createComment({ owner: ctx.owner, repo: ctx.repo, issue_number: pr, body });
}

export type { RepoRef };
