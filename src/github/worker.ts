/**
 * The worker: runs the jobs webhooks queued. One function per job kind; each reads like the
 * steps it takes. Deploys go through rollout.ts, plans through planPr.ts / planRange.
 */

import type { Probot } from "probot";
import { errorText } from "../deploy/hostDeploy.ts";
import { isSuccess } from "../deploy/orchestrate.ts";
import { rollbackHost } from "../deploy/rollbackHost.ts";
import type { Plan } from "../plan/plan.ts";
import { codeSpan, escapeMarkdown, mention } from "../plan/render/escape.ts";
import { GITHUB_TEXT_LIMIT, rowsWithin } from "../plan/render/markdown.ts";
import { loadPolicy } from "../policy/load.ts";
import { type Policy, stackEnvironment } from "../policy/policy.ts";
import { deployLockKey } from "../state/deployments.ts";
import { compileGlob } from "../util/glob.ts";
import { fromHostJobResult, PLAN_CHECK_NAME, planCheckRun } from "./checkRun.ts";
import { HELP_TEXT, type ParsedCommand, parseCommands } from "./commands.ts";
import type { GithubJob, RepoRef } from "./events.ts";
import { type JobContext, mirrorAt, type Octokit, planJob, type WorkerDeps } from "./jobContext.ts";
import { isPermanent, shortReason } from "./jobErrors.ts";
import { RETRY_LIMIT } from "./jobQueue.ts";
import { type Actor, authorizeCommand, commandFacts } from "./permissions.ts";
import { plannedSha, planPullRequest, readPullRequest } from "./planPr.ts";
import { type EnvironmentOutcome, type LastRun, type RollbackOutcome, showLastRun } from "./prComment.ts";
import { react } from "./reactions.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

/** A queued job's delivery and attempt (0 for the first run). */
export interface JobMeta {
  deliveryId: string;
  attempt: number;
}

/**
 * The job handler: runs a job, and when it fails, logs the whole error at error level and decides:
 * a permanent error (see jobErrors.ts) is reported to the user at once and not retried; a transient
 * one is thrown for the queue to retry, and reported only when no attempt is left.
 */
export function createWorker(
  deps: WorkerDeps,
  app: Pick<Probot, "auth" | "log">,
  opts: { retryLimit?: number } = {},
) {
  return async (job: GithubJob, meta: JobMeta = { deliveryId: "-", attempt: 0 }): Promise<void> => {
    let ctx: JobContext | undefined;
    try {
      const octokit = (await app.auth(job.repo.installationId)) as Octokit;
      ctx = {
        deps,
        octokit,
        ref: job.repo,
        owner: job.repo.owner,
        repo: job.repo.name,
        delivery: meta.deliveryId,
        log: { info: (m) => app.log.info(m), warn: (m) => app.log.warn(m), error: (m) => app.log.error(m) },
      };
      await runJob(ctx, job);
    } catch (err) {
      const permanent = isPermanent(err);
      const last = permanent || meta.attempt >= (opts.retryLimit ?? RETRY_LIMIT);
      app.log.error(
        { err, delivery: meta.deliveryId, attempt: meta.attempt, job: job.kind, repo: job.repo.fullName },
        `${job.kind} job of ${job.repo.fullName} failed (${permanent ? "permanent: not retried" : last ? "no attempt left" : "will be retried"}): ${errorText(err)}`,
      );
      if (last && ctx) {
        const reason = shortReason(err, meta.deliveryId);
        await reportFailure(ctx, job, reason).catch((e: unknown) =>
          app.log.error(`could not report the failure of delivery ${meta.deliveryId}: ${errorText(e)}`),
        );
      }
      if (!permanent) throw err;
    }
  };
}

/** Tells the user a job failed for good: a failing plan check run on its commit, or a PR reply. */
async function reportFailure(ctx: JobContext, job: GithubJob, reason: string): Promise<void> {
  const sha = job.kind === "push" ? job.after : job.kind === "plan-pr" ? job.headSha : undefined;
  if (sha) {
    await ctx.octokit.rest.checks.create({
      owner: ctx.owner,
      repo: ctx.repo,
      name: PLAN_CHECK_NAME,
      head_sha: sha,
      status: "completed",
      conclusion: "failure",
      output: { title: "Stackpilot could not plan this commit", summary: reason },
    });
    return;
  }
  if (job.kind === "comment" || job.kind === "deploy-button")
    await reply(ctx, job.pr, `Stackpilot could not run your command: ${escapeMarkdown(reason)}`);
}

async function runJob(ctx: JobContext, job: GithubJob): Promise<void> {
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
}

/**
 * A push: 1. plan it against the previous commit (check run on the new head), 2. unless a newer
 * commit already moved the branch on, deploy every environment whose `deploy_on` is `merge`
 * and whose branch this is, by the default branch's rules, 3. when the push is a PR's merge, show the results in that PR's
 * Stackpilot comment, where its plan was read.
 */
async function onPush(ctx: JobContext, job: Extract<GithubJob, { kind: "push" }>): Promise<void> {
  const repo = await mirrorAt(ctx, [`refs/heads/${job.branch}`, `refs/heads/${job.repo.defaultBranch}`]);
  const { plan, head, images, policy } = await planJob(ctx, repo, {
    base: job.before,
    head: job.after,
    defaultBranch: job.repo.defaultBranch,
  });
  const check = planCheckRun(plan, { headSha: job.after, name: PLAN_CHECK_NAME });
  await ctx.octokit.rest.checks.create({ owner: ctx.owner, repo: ctx.repo, ...check.params });
  // A broken stack's targets are skips: the others deploy, unless the config itself is broken.
  if (!plan.deployable) return;
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
    // The default branch's rules say which branch deploys where on push, never the pushed commit's.
    const config = policy.environments.get(env);
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
    // A command is not retried behind the user's back: say why it failed, and whether trying
    // again can help; the whole error goes to the operator's log.
    ok = false;
    const permanent = isPermanent(err);
    ctx.log.error(
      `/${command.kind} on ${ctx.ref.fullName}#${job.pr} failed (delivery ${ctx.delivery}): ${errorText(err)}`,
    );
    await reply(
      ctx,
      job.pr,
      `Stackpilot could not run \`${command.kind}\`: ${escapeMarkdown(shortReason(err, ctx.delivery))}${permanent ? "" : "\n\nThis looks temporary: comment the command again to retry."}`,
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
      await reply(ctx, pr, `Unknown command ${codeSpan(command.name, { max: 100 })}.\n\n${HELP_TEXT}`);
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
 * `/deploy` (or the Deploy button): 1. with no hosts configured, say so once the actor may deploy
 * at all, 2. plan the PR head, restricted as asked, held against the default branch's rules,
 * 3. check every environment it touches against those rules (permission, approvals, fork, plan
 * bound to the head), 4. roll out the allowed ones, 5. show the per (stack, host) results in the
 * PR's Stackpilot comment (when anything was rolled out) and reply with a summary.
 */
async function deployFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "deploy" }>,
): Promise<boolean> {
  if (ctx.deps.hosts.length === 0) return noHostsConfigured(ctx, prNumber, actor);
  const planned = await planPullRequest(ctx, prNumber, {
    report: false,
    force: command.force,
    only: { stacks: command.stacks, hosts: command.host ? [command.host] : [] },
  });
  const { pr, plan, head, repo, images, policy } = planned;
  if (!plan.ok) {
    await reply(
      ctx,
      prNumber,
      `The plan for this pull request is not ok (${plan.deployable ? "a stack it changes is broken" : "the configuration has errors"}); nothing was deployed. See the \`stackpilot/plan\` check run.`,
    );
    return false;
  }
  const envs = environmentsToDeploy(plan).filter((e) => !command.env || e === command.env);
  if (envs.length === 0) {
    await reply(ctx, prNumber, nothingToDeploy(plan, pr.headSha, command.env));
    return true;
  }
  const facts = await commandFacts(ctx, pr, actor);
  const planSha = await plannedSha(ctx, pr.headSha);
  const lines: string[] = [];
  const outcomes: EnvironmentOutcome[] = [];
  let ok = true;
  for (const env of envs) {
    const verdict = await authorizeCommand(ctx, {
      action: "deploy",
      actor,
      pr,
      facts,
      policy,
      environment: env,
      planSha,
    });
    if (!verdict.ok) {
      ok = false;
      lines.push(`- **${escapeMarkdown(env)}**: refused: ${escapeMarkdown(verdict.reason)}`);
      outcomes.push({ name: env, refused: verdict.reason });
      continue;
    }
    const url = policy.environments.get(env)?.url;
    const results = await rollout(ctx, {
      plan,
      head,
      images,
      repo,
      environment: env,
      trigger: "command",
      actor: actor.login,
      ...(url ? { environmentUrl: url } : {}),
    });
    const failed = results.filter((r) => !isSuccess(r));
    if (failed.length) ok = false;
    outcomes.push({ name: env, results: results.map(fromHostJobResult) });
    lines.push(
      `- **${escapeMarkdown(env)}**: ${results.length - failed.length} of ${results.length} deployed${failed.length ? `; failed: ${failed.map((f) => `${codeSpan(f.stack)} on ${codeSpan(f.host)} (${escapeMarkdown((f.error ?? "").split("\n").at(-1)?.slice(0, 200) ?? "")})`).join(", ")}` : ""}`,
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
    `Deploy of \`${pr.headSha.slice(0, 7)}\` requested by ${mention(actor.login)}:\n\n${lines.join("\n")}${shown}`,
  );
  return ok;
}

/**
 * Why nothing deploys: every target runs this content, or the default branch's rules (or the
 * hosts file) refuse the targets that would (their reasons, from the plan).
 */
function nothingToDeploy(plan: Plan, headSha: string, env: string | undefined): string {
  const refused = plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.reasons[0]?.startsWith("refused: "))
      .map((t) => `- ${codeSpan(s.name)} on ${codeSpan(t.host)}: ${escapeMarkdown(t.reasons[0] ?? "")}`),
  );
  const where = env ? ` to ${codeSpan(env)}` : "";
  if (refused.length === 0)
    return `Nothing to deploy at \`${headSha.slice(0, 7)}\`${where}: every target already runs this content.`;
  return rowsWithin(`Nothing deployed at \`${headSha.slice(0, 7)}\`${where}:\n\n`, refused, STATUS_LIMIT);
}

/** `/deploy` on a server without hosts: refuse who may not deploy anywhere first, then say so. */
async function noHostsConfigured(ctx: JobContext, prNumber: number, actor: Actor): Promise<boolean> {
  const { permission } = await commandFacts(ctx, await readPullRequest(ctx, prNumber), actor);
  if (!["write", "maintain", "admin"].includes(permission)) {
    await reply(
      ctx,
      prNumber,
      `${mention(actor.login)} cannot deploy: it needs write permission on this repository (has ${permission}).`,
    );
    return false;
  }
  await reply(
    ctx,
    prNumber,
    "No hosts are configured on this Stackpilot server (its hosts file, `STACKPILOT_HOSTS_FILE`, is not set or lists none): nothing can be deployed.",
  );
  return false;
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

/**
 * `/rollback STACK [--to SHA] [--host GLOB]`: allowed as `/deploy` is in the stack's environment
 * (the default branch's rules); pins the stack where it rolls back.
 */
async function rollbackFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "rollback" }>,
): Promise<boolean> {
  if (!(await mayActOn(ctx, prNumber, actor, "rollback", command.stack))) return false;
  const hostOk = command.host ? compileGlob(command.host) : () => true;
  const targets = (await ctx.deps.store.getDeployed(ctx.ref.fullName)).filter(
    (d) => d.stack === command.stack && hostOk(d.host),
  );
  if (targets.length === 0) {
    await reply(
      ctx,
      prNumber,
      `${codeSpan(command.stack)} is not deployed on any${command.host ? " matching" : ""} host.`,
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
        `- ${codeSpan(d.host)}: \`${r.from?.slice(0, 7) ?? "none"}\` → \`${r.to.slice(0, 7)}\` (pinned until the next explicit deploy)`,
      );
      hosts.push({ host: d.host, ...(r.from ? { from: r.from } : {}), to: r.to });
    } else {
      ok = false;
      lines.push(
        `- ${codeSpan(d.host)}: failed: ${escapeMarkdown(r.error.split("\n").at(-1)?.slice(0, 300) ?? "")}`,
      );
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
  await reply(ctx, prNumber, `Rollback of ${codeSpan(command.stack)}:\n\n${lines.join("\n")}${shown}`);
  return ok;
}

/**
 * `/unlock STACK [--host GLOB]`: allowed as `/deploy` is in the stack's environment; frees the
 * database locks of a stack (a deploy holding one stops before its next step; see hostDeploy.ts).
 */
async function unlockFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "unlock" }>,
): Promise<boolean> {
  if (!(await mayActOn(ctx, prNumber, actor, "unlock", command.stack))) return false;
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
      ? `Unlocked ${codeSpan(command.stack)} on ${freed.map((h) => codeSpan(h)).join(", ")}.`
      : `${codeSpan(command.stack)} held no lock${command.host ? " on matching hosts" : ""}.`,
  );
  return true;
}

/**
 * May `actor` roll back or unlock `stack` from this PR? The stack's environment and its rules come
 * from the default branch; a refusal is replied with its reason.
 */
async function mayActOn(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  action: "rollback" | "unlock",
  stack: string,
): Promise<boolean> {
  const pr = await readPullRequest(ctx, prNumber);
  const policy = await defaultBranchPolicy(ctx);
  const environment = stackEnvironment(policy, stack);
  const facts = await commandFacts(ctx, pr, actor);
  const verdict = await authorizeCommand(ctx, { action, actor, pr, facts, policy, environment });
  if (verdict.ok) return true;
  await reply(
    ctx,
    prNumber,
    `${action === "rollback" ? "Rollback" : "Unlock"} of ${codeSpan(stack)} refused: ${escapeMarkdown(verdict.reason)}`,
  );
  return false;
}

async function defaultBranchPolicy(ctx: JobContext): Promise<Policy> {
  const repo = await mirrorAt(ctx, [`refs/heads/${ctx.ref.defaultBranch}`]);
  return loadPolicy(repo, ctx.ref.defaultBranch);
}

/** `/status`: what is deployed where, within a comment's size (a big repository has thousands of rows). */
async function statusText(ctx: JobContext): Promise<string> {
  const deployed = await ctx.deps.store.getDeployed(ctx.ref.fullName);
  if (deployed.length === 0) return "Nothing from this repository is deployed yet.";
  const rows = deployed.map(
    (d) =>
      `| ${codeSpan(d.stack, { inTable: true })} | ${codeSpan(d.host, { inTable: true })} | \`${d.commit.slice(0, 7)}\` | ${d.pinned ? "📌 pinned" : ""} | ${d.deployedAt.toISOString()} |`,
  );
  return rowsWithin("| Stack | Host | Commit | | Deployed at |\n|---|---|---|---|---|\n", rows, STATUS_LIMIT);
}

/** Characters of a `/status` reply: GitHub's comment limit, less room for the rest. */
const STATUS_LIMIT = GITHUB_TEXT_LIMIT - 1_000;

async function reply(ctx: JobContext, pr: number, body: string): Promise<void> {
  await ctx.octokit.rest.issues.createComment({ owner: ctx.owner, repo: ctx.repo, issue_number: pr, body });
}

export type { RepoRef };
