/**
 * Check runs as Octokit request parameters, built from a plan or from deploy results. Pure: the
 * caller adds `owner`/`repo` (and `check_run_id` for updates) and sends them.
 *
 * GitHub limits: summary and text ≤ 65,535 characters, ≤ 50 annotations per request (later
 * updates append), ≤ 3 actions with label ≤ 20, description ≤ 40, identifier ≤ 20 characters.
 */
import type { Problem } from "../../config/problems.ts";
import type { HookRun } from "../../deploy/hookSteps.ts";
import { type HostJobResult, isSuccess } from "../../deploy/orchestrate.ts";
import { short } from "../../git/range.ts";
import type { Plan } from "../../plan/plan.ts";
import { codeSpan, escapeMarkdown } from "../../plan/render/escape.ts";
import { GITHUB_TEXT_LIMIT, renderMarkdown, rowsWithin } from "../../plan/render/markdown.ts";
import { deployDetails, hasFailed } from "./deployDetails.ts";

export const PLAN_CHECK_NAME = "stackpilot/plan";
export const DEPLOY_ACTION_ID = "deploy";
export const MAX_ANNOTATIONS_PER_REQUEST = 50;
/** Annotations sent per check run at most (10 requests); the summary still lists every problem. */
export const MAX_ANNOTATIONS = 500;
const MAX_ANNOTATION_MESSAGE = 4_000;
const MAX_ANNOTATION_TITLE = 255;

export type CheckStatus = "queued" | "in_progress" | "completed";
export type CheckConclusion =
  | "success"
  | "failure"
  | "neutral"
  | "cancelled"
  | "skipped"
  | "timed_out"
  | "action_required";

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: "notice" | "warning" | "failure";
  message: string;
  title?: string;
}

export interface CheckAction {
  label: string;
  description: string;
  identifier: string;
}

export interface CheckOutput {
  title: string;
  summary: string;
  /** The details under the summary (markdown, at most 65,535 characters). */
  text?: string;
  annotations?: CheckAnnotation[];
}

/** Body of `checks.create` without owner/repo; for `checks.update` drop `head_sha`. */
export interface CheckRunParams {
  name: string;
  head_sha: string;
  status: CheckStatus;
  conclusion?: CheckConclusion;
  started_at?: string;
  completed_at?: string;
  details_url?: string;
  external_id?: string;
  output: CheckOutput;
  actions?: CheckAction[];
}

export interface CheckRunRequests {
  /** The create (or update) request, with the first ≤ 50 annotations. */
  params: CheckRunParams;
  /** One `checks.update` body per further batch of ≤ 50 annotations, in order. */
  followUps: { output: Required<Omit<CheckOutput, "text">> }[];
}

export interface PlanCheckOptions {
  name?: string;
  headSha: string;
  detailsUrl?: string;
  /** Offer a "Deploy" button (a click arrives as `check_run.requested_action`, identifier `deploy`). */
  deployAction?: boolean;
  /** ISO time; GitHub fills in completion time when omitted. */
  completedAt?: string;
  externalId?: string;
}

/**
 * The plan check run: failure unless the plan is ok (a config error, a broken stack the range
 * changes, an error of no stack); an untouched broken stack only shows in the title and as warnings.
 */
export function planCheckRun(plan: Plan, opts: PlanCheckOptions): CheckRunRequests {
  const m = plan.summary;
  const title = planTitle(plan);
  const summary = bound(renderMarkdown(plan, { limit: GITHUB_TEXT_LIMIT }), GITHUB_TEXT_LIMIT);
  const batches = chunk(problemAnnotations(plan.problems), MAX_ANNOTATIONS_PER_REQUEST);

  const params: CheckRunParams = {
    name: opts.name ?? PLAN_CHECK_NAME,
    head_sha: opts.headSha,
    status: "completed",
    conclusion: plan.ok ? "success" : "failure",
    ...(opts.completedAt ? { completed_at: opts.completedAt } : {}),
    ...(opts.detailsUrl ? { details_url: opts.detailsUrl } : {}),
    ...(opts.externalId ? { external_id: opts.externalId } : {}),
    output: { title, summary, ...(batches[0] ? { annotations: batches[0] } : {}) },
  };
  const changes = m.deploy + m.remove;
  if (opts.deployAction && plan.ok && changes > 0)
    params.actions = [
      {
        label: "Deploy",
        description: bound(`Deploy ${count(changes, "change")} of ${short(plan.head)}`, 40),
        identifier: DEPLOY_ACTION_ID,
      },
    ];
  return {
    params,
    followUps: batches.slice(1).map((annotations) => ({ output: { title, summary, annotations } })),
  };
}

function planTitle(plan: Plan): string {
  const m = plan.summary;
  const errors = plan.problems.filter((p) => p.severity === "error").length;
  if (!plan.deployable) return `Configuration errors: ${count(errors, "error")}, nothing will be deployed`;
  const actions =
    m.deploy + m.remove === 0
      ? `nothing to deploy (${count(m.changed, "stack")} changed)`
      : `${m.deploy} to deploy, ${m.remove} to remove, ${m.skip} to skip`;
  const wrong = m.broken
    ? `${count(m.broken, "broken stack")} not deployed`
    : errors
      ? count(errors, "error")
      : "";
  return wrong ? `${wrong}; ${actions}` : `${actions[0]?.toUpperCase()}${actions.slice(1)}`;
}

/**
 * Problems with a position in a repository file, as annotations. Problems without a line, or
 * whose path is absolute or leaves the repository, stay in the summary only.
 */
export function problemAnnotations(problems: readonly Problem[]): CheckAnnotation[] {
  const out: CheckAnnotation[] = [];
  for (const p of problems) {
    if (out.length >= MAX_ANNOTATIONS) break;
    const path = p.file.replace(/^(\.\/)+/, "");
    if (!path || p.line <= 0 || !Number.isInteger(p.line)) continue;
    if (path.startsWith("/") || /^[A-Za-z]:/.test(path) || path.split("/").includes("..")) continue;
    out.push({
      path,
      start_line: p.line,
      end_line: p.line,
      ...(p.col > 0 ? { start_column: p.col, end_column: p.col } : {}),
      annotation_level: p.severity === "error" ? "failure" : "warning",
      message: bound(p.message, MAX_ANNOTATION_MESSAGE),
      title: bound(`Stackpilot ${p.severity}${p.key ? ` at ${p.key}` : ""}`, MAX_ANNOTATION_TITLE),
    });
  }
  return out;
}

/** One (stack, host) of a deploy, as the deploy check run shows it. */
export interface DeployResult {
  stack: string;
  host: string;
  action?: "deploy" | "remove";
  status: CheckStatus;
  /** Set when completed. */
  conclusion?: "success" | "failure" | "cancelled" | "skipped" | "timed_out";
  /** Shown for failures; bounded. */
  error?: string;
  durationMs?: number;
  /** Its hook attempts, shown in the details with the end of their output. */
  hooks?: HookRun[];
}

export interface DeployCheckOptions {
  headSha: string;
  detailsUrl?: string;
  startedAt?: string;
  completedAt?: string;
  externalId?: string;
}

const MAX_ERROR_IN_ROW = 300;

/**
 * `stackpilot/deploy: <env>`: queued while nothing started, in progress while anything is
 * queued or running, then completed: failure when any failed or timed out, cancelled when all
 * were cancelled, success otherwise.
 */
export function deployCheckRun(
  env: string,
  results: readonly DeployResult[],
  opts: DeployCheckOptions,
): CheckRunRequests {
  const { status, conclusion, title } = deployOutcome(env, results);
  const head = `### Deploy to ${escapeMarkdown(env)} \`${short(opts.headSha)}\`\n`;
  const summary = `${head}\n${deployTable(results, GITHUB_TEXT_LIMIT - 200 - head.length)}`;
  const details = deployDetails(results);
  return {
    params: {
      name: `stackpilot/deploy: ${env}`,
      head_sha: opts.headSha,
      status,
      ...(conclusion ? { conclusion } : {}),
      ...(opts.startedAt ? { started_at: opts.startedAt } : {}),
      ...(status === "completed" && opts.completedAt ? { completed_at: opts.completedAt } : {}),
      ...(opts.detailsUrl ? { details_url: opts.detailsUrl } : {}),
      ...(opts.externalId ? { external_id: opts.externalId } : {}),
      output: {
        title,
        summary: bound(summary, GITHUB_TEXT_LIMIT),
        ...(details ? { text: details } : {}),
      },
    },
    followUps: [],
  };
}

interface DeployOutcome {
  status: CheckStatus;
  conclusion?: CheckConclusion;
  title: string;
}

/** The deploy's status, conclusion and title, from how many of its targets are where. */
function deployOutcome(env: string, results: readonly DeployResult[]): DeployOutcome {
  const n = (pred: (r: DeployResult) => boolean) => results.filter(pred).length;
  const pending = n((r) => r.status !== "completed");
  const failed = n(hasFailed);
  const done = results.length - pending;
  if (pending > 0) {
    const running = n((r) => r.status === "in_progress");
    return {
      status: running === 0 && done === 0 ? "queued" : "in_progress",
      title: `Deploying to ${env}: ${done} of ${results.length} done${failed ? `, ${failed} failed` : ""}`,
    };
  }
  const status = "completed";
  if (results.length === 0) return { status, conclusion: "success", title: `Nothing to deploy to ${env}` };
  if (failed > 0) {
    return {
      status,
      conclusion: "failure",
      title: `Deploy to ${env} failed on ${failed} of ${results.length}`,
    };
  }
  if (n((r) => r.status === "completed" && r.conclusion === "cancelled") === results.length) {
    return { status, conclusion: "cancelled", title: `Deploy to ${env} cancelled` };
  }
  const succeeded = n((r) => r.conclusion === "success");
  return {
    status,
    conclusion: "success",
    title: `Deployed to ${env}: ${count(succeeded, "target")} succeeded`,
  };
}

/**
 * The (stack, host) rows as a markdown table of at most `room` characters; rows that do not fit
 * are counted. Shared by the deploy check run and the PR comment's last-deploy section.
 */
export function deployTable(results: readonly DeployResult[], room: number): string {
  if (results.length === 0) return "No stack × host to deploy.\n";
  const rows = results.map(
    (r) =>
      `| ${codeSpan(r.stack, { inTable: true })} | ${codeSpan(r.host, { inTable: true })} | ${r.action ?? "deploy"} | ${statusCell(r)} | ${
        r.durationMs === undefined ? "" : `${(r.durationMs / 1000).toFixed(1)} s`
      } | ${r.error ? escapeMarkdown(bound(r.error, MAX_ERROR_IN_ROW)) : ""} |`,
  );
  return rowsWithin(
    "| Stack | Host | Action | Status | Time | Error |\n|---|---|---|---|---|---|\n",
    rows,
    room,
  );
}

/** An orchestrator result as a completed deploy row. */
export function fromHostJobResult(r: HostJobResult): DeployResult {
  return {
    stack: r.stack,
    host: r.host,
    action: r.action,
    status: "completed",
    conclusion: r.status === "superseded" ? "skipped" : isSuccess(r) ? "success" : "failure",
    durationMs: r.durationMs,
    ...(r.error ? { error: r.error } : r.status === "rolled_back" ? { error: "rolled back" } : {}),
    ...(r.hooks?.length ? { hooks: r.hooks } : {}),
  };
}

function statusCell(r: DeployResult): string {
  if (r.status === "queued") return "⏳ queued";
  if (r.status === "in_progress") return "🔄 in progress";
  switch (r.conclusion) {
    case "success":
      return "✅ success";
    case "failure":
      return "❌ failure";
    case "timed_out":
      return "⌛ timed out";
    case "cancelled":
      return "🚫 cancelled";
    case "skipped":
      return "⏭️ skipped";
    default:
      return "completed";
  }
}

function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** At most `max` UTF-16 units, ending in "…" when cut, never splitting a surrogate pair. */
export function bound(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
