/**
 * `/deploy` and the Deploy button: the PR's head deployed where the default branch's rules let
 * the actor deploy it.
 */
import { isSuccess } from "../../deploy/orchestrate.ts";
import type { Plan } from "../../plan/plan.ts";
import { codeSpan, escapeMarkdown, mention } from "../../plan/render/escape.ts";
import { rowsWithin } from "../../plan/render/markdown.ts";
import type { EnvironmentOutcome } from "../api/prComment.ts";
import type { ParsedCommand } from "../commands.ts";
import { fromHostJobResult } from "../render/checkRun.ts";
import { type DeployAuthorizer, deployAuthorizer } from "./deployAuthorizer.ts";
import type { JobContext } from "./jobContext.ts";
import { type Actor, commandFacts } from "./permissions.ts";
import { type PlannedPullRequest, planPullRequest, readPullRequest } from "./planPr.ts";
import { reply, STATUS_LIMIT, showResults } from "./replies.ts";
import { environmentsToDeploy, rollout } from "./rollout.ts";

/**
 * `/deploy` (or the Deploy button): 1. with no hosts configured, say so once the actor may deploy
 * at all, 2. plan the PR head, restricted as asked, held against the default branch's rules,
 * 3. check every environment it touches against those rules (permission, approvals, fork, plan
 * bound to the head), 4. roll out the allowed ones, 5. show the per (stack, host) results in the
 * PR's Stackpilot comment (when anything was rolled out) and reply with a summary.
 */
export async function deployFromPullRequest(
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
  const { pr, plan, policy } = planned;
  if (!plan.ok) {
    await reply(ctx, prNumber, planNotOk(plan));
    return false;
  }
  const envs = environmentsToDeploy(plan).filter((e) => !command.env || e === command.env);
  if (envs.length === 0) {
    await reply(ctx, prNumber, nothingToDeploy(plan, pr.headSha, command.env));
    return true;
  }
  const authorize = await deployAuthorizer(ctx, pr, actor, policy);
  const deployed: EnvironmentDeploy[] = [];
  for (const env of envs) deployed.push(await deployEnvironment(ctx, planned, actor, env, authorize));
  await reportDeploy(ctx, prNumber, pr.headSha, actor, deployed);
  return deployed.every((d) => d.ok);
}

/** One environment's part of a `/deploy`: its line in the reply and its results for the comment. */
interface EnvironmentDeploy {
  ok: boolean;
  line: string;
  outcome: EnvironmentOutcome;
}

function planNotOk(plan: Plan): string {
  return `The plan for this pull request is not ok (${plan.deployable ? "a stack it changes is broken" : "the configuration has errors"}); nothing was deployed. See the \`stackpilot/plan\` check run.`;
}

/** Rolls the plan out to `env` if the rules let the actor deploy there. */
async function deployEnvironment(
  ctx: JobContext,
  { plan, head, images, repo, policy }: PlannedPullRequest,
  actor: Actor,
  env: string,
  authorize: DeployAuthorizer,
): Promise<EnvironmentDeploy> {
  const verdict = await authorize(env);
  if (!verdict.ok)
    return {
      ok: false,
      line: `- **${escapeMarkdown(env)}**: refused: ${escapeMarkdown(verdict.reason)}`,
      outcome: { name: env, refused: verdict.reason },
    };
  const results = await rollout(ctx, {
    plan,
    head,
    images,
    repo,
    environment: env,
    trigger: "command",
    actor: actor.login,
    policy,
  });
  const failed = results.filter((r) => !isSuccess(r));
  return {
    ok: failed.length === 0,
    line: `- **${escapeMarkdown(env)}**: ${results.length - failed.length} of ${results.length} deployed${failed.length ? `; failed: ${failed.map((f) => `${codeSpan(f.stack)} on ${codeSpan(f.host)} (${escapeMarkdown((f.error ?? "").split("\n").at(-1)?.slice(0, 200) ?? "")})`).join(", ")}` : ""}`,
    outcome: { name: env, results: results.map(fromHostJobResult) },
  };
}

/** The results in the PR's Stackpilot comment, and the reply that sums them up. */
async function reportDeploy(
  ctx: JobContext,
  prNumber: number,
  headSha: string,
  actor: Actor,
  deployed: EnvironmentDeploy[],
): Promise<void> {
  const outcomes = deployed.map((d) => d.outcome);
  // A refusal alone leaves the last real deploy on show; the reply says why.
  const shown = outcomes.some((o) => o.results)
    ? await showResults(ctx, prNumber, {
        kind: "deploy",
        sha: headSha,
        actor: actor.login,
        at: new Date(),
        environments: outcomes,
      })
    : "";
  await reply(
    ctx,
    prNumber,
    `Deploy of \`${headSha.slice(0, 7)}\` requested by ${mention(actor.login)}:\n\n${deployed.map((d) => d.line).join("\n")}${shown}`,
  );
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
