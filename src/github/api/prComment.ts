/**
 * What Stackpilot's one PR comment shows: the plan of the head, then the last deploy (or rollback)
 * run from the PR, each a sticky section written on its own (stickyComment.ts). Results land
 * where the user typed the command, in the comment they already watch.
 *
 * - A new plan replaces the plan and keeps the last deploy; when that deploy was of another
 *   commit, it says so.
 * - A deploy replaces the last deploy and keeps the plan, noting that it was planned before.
 * - Replicas sharing a database write one PR's comment one at a time (a database lock).
 * - Budgets: the plan gets what the last deploy may not use (at most DEPLOY_SECTION_LIMIT), so
 *   the whole comment stays under GitHub's 65,535 characters whichever is written later.
 */
import { randomUUID } from "node:crypto";
import { short } from "../../git/range.ts";
import type { Plan } from "../../plan/plan.ts";
import { codeSpan, escapeMarkdown, mention } from "../../plan/render/escape.ts";
import { PLAN_MARKER, renderMarkdown, rowsWithin } from "../../plan/render/markdown.ts";
import { type LockWait, withLockWaiting } from "../../state/locks.ts";
import type { JobContext } from "../jobs/jobContext.ts";
import { type DeployResult, deployTable } from "../render/checkRun.ts";
import {
  COMMENT_LIMIT,
  type Exclusive,
  parseSections,
  renderSections,
  type Section,
  type StickyCommentResult,
  writeSticky,
} from "./stickyComment.ts";

/** Characters the last-deploy section may use. */
export const DEPLOY_SECTION_LIMIT = 20_000;
/** The plan's: the rest, less room for the markers and notes (the check run has the full plan). */
export const PLAN_SECTION_LIMIT = COMMENT_LIMIT - DEPLOY_SECTION_LIMIT - 1_000;
const ORDER = ["plan", "deploy"];
/** Notes this module adds at the top of a section start so, and are replaced, never stacked. */
const NOTE = "_Note: ";

/** One environment of a `/deploy`: refused, or rolled out with one row per (stack, host). */
export interface EnvironmentOutcome {
  name: string;
  refused?: string;
  results?: DeployResult[];
}

export type LastRun =
  | {
      kind: "deploy";
      /** A `/deploy` (the default) or the PR's merge. */
      trigger?: "command" | "merge";
      sha: string;
      actor: string;
      at: Date;
      environments: EnvironmentOutcome[];
    }
  | { kind: "rollback"; stack: string; actor: string; at: Date; hosts: RollbackOutcome[] };

export interface RollbackOutcome {
  host: string;
  from?: string;
  to?: string;
  error?: string;
}

/** Write the plan section (keeping the last deploy). */
export function showPlan(ctx: JobContext, prNumber: number, plan: Plan): Promise<StickyCommentResult> {
  return writeComment(ctx, prNumber, (current) => composePlan(current, plan));
}

/** Write the last-deploy section (keeping the plan). */
export function showLastRun(ctx: JobContext, prNumber: number, run: LastRun): Promise<StickyCommentResult> {
  return writeComment(ctx, prNumber, (current) => composeLastRun(current, run));
}

/** The PR's Stackpilot comment, rewritten by `compose` one writer at a time across replicas. */
function writeComment(
  ctx: JobContext,
  prNumber: number,
  compose: (current: string | undefined) => string,
): Promise<StickyCommentResult> {
  return writeSticky(ctx.octokit, target(ctx, prNumber), compose, acrossReplicas(ctx, prNumber));
}

/** A write takes a few API calls; a holder that died frees the lock when its lease runs out. */
export const COMMENT_LOCK_TTL_MS = 30_000;
export const COMMENT_LOCK_WAIT: LockWait = { pollMs: 100, maxMs: 2 * COMMENT_LOCK_TTL_MS };

/**
 * Replicas sharing the database write one PR's comment one at a time: each section is read and
 * written back whole, so two writers at once would each drop the other's section.
 */
function acrossReplicas(ctx: JobContext, prNumber: number): Exclusive {
  return (write) =>
    withLockWaiting(
      ctx.deps.store,
      {
        key: `comment:${ctx.ref.fullName}#${prNumber}`,
        holder: `comment writer ${randomUUID()}`,
        ttlMs: COMMENT_LOCK_TTL_MS,
        wait: COMMENT_LOCK_WAIT,
      },
      () => write(),
    );
}

function target(ctx: JobContext, prNumber: number) {
  return {
    owner: ctx.owner,
    repo: ctx.repo,
    issue_number: prNumber,
    marker: PLAN_MARKER,
    botLogin: `${ctx.deps.appSlug}[bot]`,
  };
}

/** The comment body with `plan` as its plan section. Pure. */
export function composePlan(current: string | undefined, plan: Plan): string {
  const kept = known(current).filter((s) => s.name !== "plan");
  const deploy = kept.find((s) => s.name === "deploy");
  if (deploy) {
    const of = deploy.attrs.sha;
    deploy.text = withNote(
      deploy.text,
      of && of !== plan.head
        ? `this was of \`${short(of)}\`; the plan above is of \`${short(plan.head)}\`._`
        : "",
    );
  }
  const text = renderMarkdown(plan, { limit: PLAN_SECTION_LIMIT }).replace(PLAN_MARKER, "").trim();
  return body([...kept, { name: "plan", attrs: { sha: plan.head }, text }]);
}

/** The comment body with `run` as its last-deploy section. Pure. */
export function composeLastRun(current: string | undefined, run: LastRun): string {
  const kept = known(current).filter((s) => s.name !== "deploy");
  const plan = kept.find((s) => s.name === "plan");
  const sha = run.kind === "deploy" ? run.sha : undefined;
  if (plan) {
    plan.text = withNote(
      plan.text,
      run.kind === "deploy" && run.trigger === "merge"
        ? `planned before the merge; the deploy below is of the merge commit \`${short(run.sha)}\`._`
        : run.kind === "deploy" && plan.attrs.sha === sha
          ? "planned before the deploy below; comment `/plan` to see what is left._"
          : run.kind === "rollback"
            ? "planned before the rollback below; comment `/plan` to plan against what runs now._"
            : "",
    );
  }
  const text = renderLastRun(run, DEPLOY_SECTION_LIMIT);
  const section: Section = { name: "deploy", attrs: sha ? { sha } : {}, text };
  return body([...kept, section]);
}

/** The last-deploy section's markdown, at most `limit` characters. */
export function renderLastRun(run: LastRun, limit: number): string {
  const when = `${run.at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  if (run.kind === "rollback") {
    const rows = run.hosts.map(
      (h) =>
        `| ${codeSpan(h.host, { inTable: true })} | ${h.from ? `\`${short(h.from)}\`` : ""} | ${h.to ? `\`${short(h.to)}\`` : ""} | ${
          h.error ? `❌ ${escapeMarkdown(oneLine(h.error, 300))}` : "✅ rolled back, pinned"
        } |`,
    );
    const head = `### Last rollback: ${codeSpan(run.stack)} by ${mention(run.actor)}\n\n_${when}_\n\n| Host | From | To | Result |\n|---|---|---|---|\n`;
    return rowsWithin(head, rows, limit);
  }
  const how = run.trigger === "merge" ? "on merge " : "";
  let out = `### Last deploy: \`${short(run.sha)}\` ${how}by ${mention(run.actor)}\n\n_${when}_\n`;
  const rolled = run.environments.filter((e) => !e.refused);
  const perTable = Math.floor((limit - 1_000) / Math.max(1, rolled.length));
  for (const env of run.environments) {
    const name = `**${escapeMarkdown(env.name)}**`;
    if (env.refused) {
      out += `\n${name}: refused: ${escapeMarkdown(oneLine(env.refused, 500))}\n`;
      continue;
    }
    const results = env.results ?? [];
    const done = results.filter((r) => r.conclusion === "success").length;
    const failed = results.filter((r) => r.conclusion === "failure" || r.conclusion === "timed_out").length;
    out += `\n${name}: ${done} of ${results.length} deployed${failed ? `, ${failed} failed` : ""}\n\n`;
    out += deployTable(results, perTable);
  }
  return bound(out, limit);
}

/** Sections of the current body this module knows, in order; a pre-sections body is the plan. */
function known(current: string | undefined): Section[] {
  if (!current) return [];
  return parseSections(current, PLAN_MARKER)
    .map((s) => (s.name === "legacy" ? { ...s, name: "plan" } : s))
    .filter((s) => ORDER.includes(s.name));
}

function body(sections: Section[]): string {
  const ordered = [...sections].sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
  return renderSections(PLAN_MARKER, ordered);
}

/** Replace this module's note at the top of a section (none when `note` is empty). */
function withNote(text: string, note: string): string {
  const end = text.indexOf("\n\n");
  const bare = text.startsWith(NOTE) ? (end < 0 ? "" : text.slice(end + 2)) : text;
  return note ? `${NOTE}${note}\n\n${bare}` : bare;
}

function bound(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const cut = "\n\n_…cut to fit the comment._\n";
  return text.slice(0, Math.max(0, limit - cut.length)).replace(/[\uD800-\uDBFF]$/, "") + cut;
}

function oneLine(text: string, max: number): string {
  const last = text.trim().split("\n").at(-1) ?? "";
  return last.length > max ? `${last.slice(0, max - 1)}…` : last;
}
