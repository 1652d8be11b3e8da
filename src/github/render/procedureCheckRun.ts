/**
 * The check run `stackpilot/procedure: NAME` of a run (pure): its stages and steps in a table
 * with their state and why, each target a step acted on, and the end of each error. Outside text
 * (step and stage names, errors) only through escape.ts.
 */
import { codeSpan, escapeMarkdown } from "../../plan/render/escape.ts";
import { GITHUB_TEXT_LIMIT, rowsWithin } from "../../plan/render/markdown.ts";
import type { RunView, StageView, StepView } from "../../procedures/view.ts";
import type { CheckConclusion, CheckRunParams } from "./checkRun.ts";

export const procedureCheckName = (procedure: string) => `stackpilot/procedure: ${procedure}`;

const ICON: Record<string, string> = {
  queued: "⏳ queued",
  running: "🔄 running",
  succeeded: "✅ succeeded",
  failed: "❌ failed",
  skipped: "⏭️ skipped",
  superseded: "⏭️ superseded",
};

export function procedureCheckRun(view: RunView, headSha: string): CheckRunParams {
  const ended = !["queued", "running"].includes(view.status);
  const conclusion: CheckConclusion | undefined = ended
    ? view.status === "succeeded"
      ? "success"
      : view.status === "failed"
        ? "failure"
        : view.status === "superseded"
          ? "cancelled"
          : "skipped"
    : undefined;
  const rows: string[] = [];
  walk(view.stages, "", rows);
  const table = rowsWithin(
    "| Stage / step | State | Details |\n|---|---|---|\n",
    rows,
    GITHUB_TEXT_LIMIT - 2_000,
  );
  const summary = [
    `Run #${view.id} of ${codeSpan(view.procedure)} (${escapeMarkdown(view.source)}${view.trigger ? ` ${codeSpan(view.trigger)}` : ""}, by ${codeSpan(view.actor)}): **${view.status}**`,
    view.reason ? escapeMarkdown(view.reason) : "",
    view.error ? `\n\`\`\`\n${view.error.replaceAll("```", "`\u200b``")}\n\`\`\`` : "",
  ]
    .filter(Boolean)
    .join("\n\n");
  return {
    name: procedureCheckName(view.procedure),
    head_sha: headSha,
    status: ended ? "completed" : "in_progress",
    ...(conclusion ? { conclusion, completed_at: view.finishedAt ?? new Date().toISOString() } : {}),
    ...(view.startedAt ? { started_at: view.startedAt } : {}),
    external_id: `procedure-run-${view.id}`,
    output: {
      title: `${view.procedure}: ${view.status}`,
      summary: summary.slice(0, 60_000),
      text: table,
    },
  };
}

function walk(stages: readonly StageView[], indent: string, rows: string[]): void {
  for (const stage of stages) {
    rows.push(
      `| ${indent}**${escapeMarkdown(stage.name)}** | ${ICON[stage.status] ?? stage.status} | ${details(stage)} |`,
    );
    for (const step of stage.steps) {
      rows.push(
        `| ${indent}${nbsp}${escapeMarkdown(step.name)} | ${ICON[step.status] ?? step.status} | ${details(step)} |`,
      );
      for (const t of (step.targets ?? []) as Record<string, unknown>[]) {
        const what = [t.stack, t.host]
          .filter(Boolean)
          .map((x) => codeSpan(String(x), { inTable: true, max: 100 }));
        const err =
          typeof t.error === "string" ? `: ${escapeMarkdown(t.error.split("\n").at(-1) ?? "")}` : "";
        const dep = t.deploymentId !== undefined ? ` (deployment #${Number(t.deploymentId)})` : "";
        rows.push(
          `| ${indent}${nbsp}${nbsp}${what.join(" on ")} | ${escapeMarkdown(String(t.status ?? t.action ?? ""))} | ${dep}${err} |`,
        );
      }
      if (step.stages) walk(step.stages, `${indent}${nbsp}${nbsp}`, rows);
    }
  }
}

const nbsp = "\u00a0\u00a0";

function details(v: Omit<StepView, "kind" | "stages">): string {
  const parts = [v.reason, v.error?.split("\n").at(-1), ...(v.warnings ?? [])].filter(Boolean) as string[];
  const time = v.durationMs !== undefined ? ` (${(v.durationMs / 1000).toFixed(1)} s)` : "";
  return `${parts.map((p) => escapeMarkdown(p.slice(0, 300))).join("; ")}${time}`;
}
