/**
 * The plan as GitHub markdown, for the sticky PR comment and the check run summary. GitHub caps
 * both at 65,535 characters: long sections fold into <details>, and what does not fit is counted.
 */
import { formatProblem } from "../../config/problems.ts";
import { short } from "../../git/range.ts";
import { errorAt } from "../broken.ts";
import type { Plan, StackPlan } from "../plan.ts";
import { codeSpan, escapeMarkdown, htmlCode } from "./escape.ts";
import { hookLine, hooksToRun, interesting, mountLine } from "./text.ts";

export const PLAN_MARKER = "<!-- stackpilot:plan -->";
export const GITHUB_TEXT_LIMIT = 65_535;
/** Reasons listed per stack before folding the rest into a count. */
const MAX_REASONS = 20;
/** Broken stacks named in the callout at the top; the rest are counted (all are in the table). */
const MAX_BROKEN_LISTED = 10;

export function renderMarkdown(plan: Plan, opts: { limit?: number; title?: string } = {}): string {
  const limit = opts.limit ?? GITHUB_TEXT_LIMIT;
  const { summary: m } = plan;
  const head: string[] = [
    PLAN_MARKER,
    `### ${opts.title ?? "Stackpilot plan"} \`${short(plan.base)}..${short(plan.head)}\``,
    "",
  ];
  if (!plan.deployable)
    head.push(
      "> [!CAUTION]",
      "> The configuration has errors: nothing will be deployed from this commit.",
      "",
    );
  const broken = plan.stacks.filter((s) => s.broken);
  if (broken.length) head.push(...brokenNotice(broken), "");
  if (plan.baseNote) head.push(`_${escapeMarkdown(plan.baseNote)}_`, "");
  if (plan.mounts?.length) head.push(...plan.mounts.map((m) => `- ${escapeMarkdown(mountLine(m))}`), "");
  head.push(
    `**${m.changed}** of ${m.stacks} stacks changed${m.broken ? `, **${m.broken}** broken` : ""}: **${m.deploy}** deploy, **${m.remove}** remove, ${m.skip} skip.`,
    "",
  );

  const sections: string[] = [];
  const problems = plan.problems.map((p) => `- ${escapeMarkdown(formatProblem(p))}`);
  if (problems.length) sections.push(folded(`Problems (${problems.length})`, problems.join("\n"), !plan.ok));

  const changed = plan.stacks.filter(interesting);
  if (changed.length) {
    sections.push(
      ["| Stack | Host | Action | Why |", "|---|---|---|---|", ...changed.flatMap(tableRows)].join("\n"),
    );
    sections.push(...changed.filter((s) => s.reasons.length > 0).map(stackDetails));
  }
  const hooks = hooksSection(changed);
  if (hooks) sections.push(hooks);
  if (plan.builds?.length) sections.push(imagesSection(plan));
  const unchanged = plan.stacks.length - changed.length;
  if (unchanged > 0) sections.push(`_${unchanged} stack${unchanged === 1 ? "" : "s"} unchanged._`);

  // Keep whole sections while they fit; count what was left out.
  let out = `${head.join("\n")}\n`;
  const footerRoom = 200;
  let omitted = 0;
  for (const s of sections) {
    if (out.length + s.length + 2 + footerRoom > limit) omitted++;
    else out += `${s}\n\n`;
  }
  if (omitted)
    out += `_…${omitted} more section${omitted === 1 ? "" : "s"} did not fit; run \`stackpilot plan\` for the full plan._\n`;
  return out;
}

function tableRows(s: StackPlan): string[] {
  const name = codeSpan(s.name, { inTable: true });
  if (s.targets.length === 0)
    return [`| ${name} | _none_ | – | ${s.broken ? "broken; " : ""}no target hosts |`];
  return s.targets.map(
    (t) =>
      `| ${name} | ${codeSpan(t.host, { inTable: true })} | ${s.broken ? "⛔" : icon(t.action)} ${t.action} | ${escapeMarkdown(t.reasons.slice(0, 3).join("; "))}${t.reasons.length > 3 ? ` (+${t.reasons.length - 3})` : ""} |`,
  );
}

/** A callout naming each broken stack (at most a few, the rest counted) and its first error. */
function brokenNotice(broken: readonly StackPlan[]): string[] {
  const shown = broken.slice(0, MAX_BROKEN_LISTED).map((s) => {
    const first = s.broken?.[0];
    return `> - \`${s.name}\`${first ? `: ${escapeMarkdown(errorAt(first))}` : ""}`;
  });
  const rest = broken.length - shown.length;
  return [
    "> [!WARNING]",
    `> ${broken.length === 1 ? "1 stack is" : `${broken.length} stacks are`} broken and will not be deployed; every other stack is planned as usual.`,
    ...shown,
    ...(rest > 0 ? [`> - …and ${rest} more`] : []),
  ];
}

/** Builds, then per host the image operations it runs (only hosts whose stacks use the image). */
function imagesSection(plan: Plan): string {
  const builds = (plan.builds ?? []).map(
    (b) =>
      `| ${codeSpan(`${b.stack}/${b.service}`, { inTable: true })} | ${codeSpan(b.builder, { inTable: true })} | ${b.action} | ${codeSpan(b.image, { inTable: true })} | ${escapeMarkdown(b.reason)} |`,
  );
  const ops = plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.imageOps?.length)
      .map(
        (t) =>
          `- ${codeSpan(t.host)} (${codeSpan(s.name)}): ${(t.imageOps ?? []).map((o) => codeSpan(o)).join(", ")}`,
      ),
  );
  const body = ["| Image | Builder | Action | Reference | Why |", "|---|---|---|---|---|", ...builds].join(
    "\n",
  );
  return folded(
    `Images (${builds.length})`,
    ops.length ? `${body}\n\nImage operations per host:\n\n${ops.join("\n")}` : body,
    true,
  );
}

/**
 * The hooks each deploying stack will run on its hosts, those the range adds or rewrites marked
 * first on their line and counted in the summary; empty when none will run.
 */
function hooksSection(stacks: readonly StackPlan[]): string {
  const fmt = { command: (c: string) => codeSpan(c, { max: 200 }), text: escapeMarkdown };
  const hooks = stacks.flatMap((s) => hooksToRun(s).map((h) => ({ stack: s.name, h })));
  if (hooks.length === 0) return "";
  const lines = hooks.map(
    ({ stack, h }) =>
      `- ${h.change ? `**${h.change === "added" ? "new" : "changed"}** ` : ""}${codeSpan(stack)}: ${hookLine(h, fmt)}`,
  );
  const changed = hooks.filter(({ h }) => h.change).length;
  return folded(
    `Hooks (${hooks.length}${changed ? `, ${changed} new or changed` : ""})`,
    lines.join("\n"),
    true,
  );
}

function stackDetails(s: StackPlan): string {
  const shown = s.reasons.slice(0, MAX_REASONS).map((r) => `- ${escapeMarkdown(r)}`);
  if (s.reasons.length > MAX_REASONS) shown.push(`- …and ${s.reasons.length - MAX_REASONS} more`);
  return folded(
    `${htmlCode(s.name)}: ${s.reasons.length} reason${s.reasons.length === 1 ? "" : "s"}`,
    shown.join("\n"),
    false,
  );
}

function folded(summary: string, body: string, open: boolean): string {
  return `<details${open ? " open" : ""}><summary>${summary}</summary>\n\n${body}\n\n</details>`;
}

function icon(action: string): string {
  return action === "deploy" ? "🚀" : action === "remove" ? "🗑️" : "⏭️";
}

/**
 * A table's head and as many of its rows as fit in `limit` characters; the rows left out are
 * counted in a closing line.
 */
export function rowsWithin(head: string, rows: readonly string[], limit: number): string {
  const reserve = 60; // the "more rows" line
  let out = head;
  let shown = 0;
  for (const row of rows) {
    if (out.length + row.length + 1 > limit - reserve) break;
    out += `${row}\n`;
    shown++;
  }
  if (shown < rows.length) out += `\n_…${rows.length - shown} more rows did not fit._\n`;
  return out;
}
