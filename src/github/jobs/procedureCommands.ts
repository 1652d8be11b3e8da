/**
 * `/run PROCEDURE`, `/stop STACK` and `/start STACK` from a pull request.
 * - `/run`: the procedure as the default branch defines it, run at the PR's head, allowed as
 *   `/deploy` is (the same rules, from the default branch) in every environment its deploy steps
 *   would deploy to and in the default environment; queued as a run (its check run shows it).
 * - `/stop`, `/start`: allowed as `/rollback` is in the stack's environment; on every host the
 *   stack is deployed to (or those `--host` matches), through deploy/stackPower.ts.
 */

import type { Procedure } from "../../config/procedureSchema.ts";
import { type PowerResult, startStack, stopStack } from "../../deploy/stackPower.ts";
import { codeSpan, escapeMarkdown, mention } from "../../plan/render/escape.ts";
import type { Policy } from "../../policy/policy.ts";
import { definitionOf, type RunDefinition } from "../../procedures/definition.ts";
import { narrowPlan } from "../../procedures/narrow.ts";
import type { ParsedCommand } from "../commands.ts";
import { procedureCheckName } from "../render/procedureCheckRun.ts";
import { deployedTargetsOrReply } from "./commandTargets.ts";
import { type DeployAuthorizer, deployAuthorizer } from "./deployAuthorizer.ts";
import { inventory, type JobContext } from "./jobContext.ts";
import { type Actor, mayActOn } from "./permissions.ts";
import { type PlannedPullRequest, planPullRequest } from "./planPr.ts";
import { queueRun } from "./procedureStart.ts";
import { reply } from "./replies.ts";
import { environmentsToDeploy } from "./rollout.ts";

/** Runs from a PR name it in `trigger_name`, so the worker fetches the PR's head. */
export const prRunTag = (pr: number) => `pr#${pr}`;

/**
 * `/run PROCEDURE`: 1. the procedure as the default branch defines it, 2. the environments it
 * would deploy to, each checked as `/deploy` checks it (the first refusal refuses the run),
 * 3. the run queued at the PR's head, and the reply naming its check run.
 */
export async function runFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "run" }>,
): Promise<boolean> {
  const planned = await planPullRequest(ctx, prNumber, { report: false });
  const { pr, policy } = planned;
  const definition = definitionOf(policy.procedures, command.procedure);
  if (!definition) {
    await reply(ctx, prNumber, noSuchProcedure(policy, command.procedure));
    return false;
  }
  const envs = runEnvironments(ctx, planned, definition);
  const refused = await firstRefusal(await deployAuthorizer(ctx, pr, actor, policy), envs);
  if (refused) {
    await reply(
      ctx,
      prNumber,
      `Run of ${codeSpan(command.procedure)} refused (it deploys to ${codeSpan(refused.environment)}): ${escapeMarkdown(refused.reason)}`,
    );
    return false;
  }
  const id = await queueRun(ctx, {
    procedure: command.procedure,
    source: "command",
    triggerName: prRunTag(prNumber),
    actor: actor.login,
    head: pr.headSha,
  });
  await reply(
    ctx,
    prNumber,
    `Run #${id} of ${codeSpan(command.procedure)} at \`${pr.headSha.slice(0, 7)}\` requested by ${mention(actor.login)} is queued: the check run ${codeSpan(procedureCheckName(command.procedure))} follows it.`,
  );
  return true;
}

function noSuchProcedure(policy: Policy, procedure: string): string {
  return `There is no procedure ${codeSpan(procedure)} on the default branch (defined: ${[...policy.procedures.keys()].map((n) => codeSpan(n)).join(", ") || "none"}); procedures in a pull request apply after merge.`;
}

/** Where its deploy steps would deploy now, plus the default environment for the other steps; sorted. */
function runEnvironments(
  ctx: JobContext,
  { plan, policy }: PlannedPullRequest,
  definition: RunDefinition,
): string[] {
  const envs = new Set([policy.defaultEnvironment]);
  for (const step of deploySteps(Object.values(definition.procedures))) {
    const narrowed = narrowPlan({
      plan,
      selection: step,
      filters: {},
      policy,
      inventory: inventory(ctx),
      branch: ctx.ref.defaultBranch,
      defaultBranch: ctx.ref.defaultBranch,
    });
    for (const env of environmentsToDeploy(narrowed.plan)) envs.add(env);
  }
  return [...envs].sort();
}

/** The first environment the actor may not deploy to, with the reason; checked in order. */
async function firstRefusal(
  authorize: DeployAuthorizer,
  environments: string[],
): Promise<{ environment: string; reason: string } | undefined> {
  for (const environment of environments) {
    const verdict = await authorize(environment);
    if (!verdict.ok) return { environment, reason: verdict.reason };
  }
  return undefined;
}

function deploySteps(procedures: Procedure[]) {
  return procedures.flatMap((p) =>
    p.stages.flatMap((s) => s.steps.flatMap((step) => ("deploy" in step ? [step.deploy] : []))),
  );
}

export async function powerFromPullRequest(
  ctx: JobContext,
  prNumber: number,
  actor: Actor,
  command: Extract<ParsedCommand, { kind: "stop" | "start" }>,
): Promise<boolean> {
  if (!(await mayActOn(ctx, prNumber, actor, command.kind, command.stack))) return false;
  const targets = await deployedTargetsOrReply(ctx, prNumber, command);
  if (!targets) return false;
  const act = command.kind === "stop" ? stopStack : startStack;
  const results: PowerResult[] = await Promise.all(
    targets.flatMap((d) => {
      const host = ctx.deps.hosts.find((h) => h.name === d.host);
      return host
        ? [
            act({
              store: ctx.deps.store,
              remote: ctx.deps.remote,
              host,
              repo: ctx.ref.fullName,
              stack: command.stack,
              actor: actor.login,
              engine: { ...ctx.deps.engine, lockOwner: ctx.deps.installationId },
            }),
          ]
        : [];
    }),
  );
  const lines = results.map((r) =>
    r.ok
      ? `- ${codeSpan(r.host)}: ${escapeMarkdown(r.note)}`
      : `- ${codeSpan(r.host)}: failed: ${escapeMarkdown(r.error.split("\n").at(-1)?.slice(0, 300) ?? "")}`,
  );
  await reply(
    ctx,
    prNumber,
    `${command.kind === "stop" ? "Stop" : "Start"} of ${codeSpan(command.stack)} by ${mention(actor.login)}:\n\n${lines.join("\n")}`,
  );
  return results.every((r) => r.ok);
}
