/**
 * The plan for a terminal: changed and broken stacks with their actions per host, then problems,
 * then totals.
 */
import { formatProblem } from "../../config/problems.ts";
import { short } from "../../git/range.ts";
import type { Plan, PlanMount, PlannedHook, StackPlan } from "../plan.ts";

export function renderText(plan: Plan, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  lines.push(
    `Plan ${short(plan.base)}..${short(plan.head)}${plan.deployable ? "" : "  (INVALID CONFIG: nothing will be deployed)"}`,
  );
  if (plan.baseNote) lines.push(`  note: ${plan.baseNote}`);
  for (const m of plan.mounts ?? []) lines.push(`  ${mountLine(m)}`);
  const shown = plan.stacks.filter((s) => opts.verbose || interesting(s));
  const width = Math.max(5, ...shown.map((s) => s.name.length));
  for (const s of shown) {
    lines.push("");
    lines.push(
      `${s.name.padEnd(width)}  ${s.path}${s.environment ? `  [${s.environment}]` : ""}${s.broken ? "  BROKEN: not deployed" : ""}`,
    );
    for (const r of s.reasons) lines.push(`  ${" ".repeat(width)}  - ${r}`);
    if (s.targets.length === 0) lines.push(`  ${" ".repeat(width)}  (no target hosts)`);
    for (const t of s.targets) {
      lines.push(`  ${" ".repeat(width)}  ${t.action.padEnd(6)} ${t.host}: ${t.reasons.join("; ")}`);
      for (const op of t.imageOps ?? []) lines.push(`  ${" ".repeat(width)}         image: ${op}`);
    }
    for (const h of hooksToRun(s)) lines.push(`  ${" ".repeat(width)}  ${hookLine(h)}`);
  }
  if (plan.builds?.length) {
    lines.push("", "Images:");
    for (const b of plan.builds) {
      lines.push(
        `  ${b.action.padEnd(6)} ${b.stack}/${b.service} on ${b.builder} -> ${b.image} (${b.reason})`,
      );
    }
  }
  const hidden = plan.stacks.length - shown.length;
  if (hidden > 0)
    lines.push("", `${hidden} stack${hidden === 1 ? "" : "s"} unchanged (--verbose lists them)`);
  if (plan.problems.length) {
    lines.push("", "Problems:");
    for (const p of plan.problems) lines.push(`  ${formatProblem(p)}`);
  }
  const { summary: m } = plan;
  lines.push(
    "",
    `${m.changed} of ${m.stacks} stacks changed${m.broken ? `, ${m.broken} broken` : ""}; ${m.deploy} deploy, ${m.remove} remove, ${m.skip} skip.`,
  );
  return `${lines.join("\n")}\n`;
}

/** The hooks a stack's deploys in this plan will run: none when nothing of it deploys. */
export function hooksToRun(s: StackPlan): PlannedHook[] {
  return s.targets.some((t) => t.action === "deploy") ? (s.hooks ?? []) : [];
}

/**
 * `will run pre_deploy: stacks/web/migrate.sh (timeout 30 s, 2 retries)`, with "new in this range"
 * or "changed in this range" when the range adds or rewrites it; `fmt` formats the command and the
 * words around it (markdown: a code span, escaped text).
 */
export function hookLine(
  h: PlannedHook,
  fmt: { command(c: string): string; text(t: string): string } = { command: (c) => c, text: (t) => t },
): string {
  const notes = [
    `timeout ${h.timeoutS} s`,
    ...(h.retries ? [`${h.retries} ${h.retries === 1 ? "retry" : "retries"}`] : []),
    ...(h.required || h.hook === "on_failure" ? [] : ["not required"]),
    ...(h.change ? [`${h.change === "added" ? "new" : "changed"} in this range`] : []),
  ];
  return `${fmt.text(`will run ${h.hook}: `)}${fmt.command(h.command)}${fmt.text(` (${notes.join(", ")})`)}`;
}

/** `source utils: a1b2c3d -> d4e5f6a (3 files)`; an added or removed one says so. */
export function mountLine(m: PlanMount): string {
  const what = m.kind === "source" ? `source ${m.name}` : `submodule ${m.path}`;
  const move =
    m.from && m.to ? `${short(m.from)} -> ${short(m.to)}` : m.to ? `added at ${short(m.to)}` : "removed";
  return `${what}: ${move} (${m.files} file${m.files === 1 ? "" : "s"})`;
}

/** A stack worth a line: it changed, it is broken, or something will happen to it. */
export function interesting(s: StackPlan): boolean {
  return s.changed || !!s.broken || s.targets.some((t) => t.action !== "skip");
}
