/**
 * A run as users read it (GET /api/runs/ID, `stackpilot runs ID`, the check run): every stage and
 * step with its state (queued, running, succeeded, failed, skipped with why), the deployments it
 * made, timings, and the end of an error. Pure: made from the run, its recorded steps and its
 * definition (steps not reached yet are queued).
 */
import type { Procedure } from "../config/procedureSchema.ts";
import { stepKind } from "../config/procedureSchema.ts";
import type { Run, StepRecord, StepStatus } from "../state/procedureRuns.ts";
import { DEPLOY_CHANGED, type RunDefinition, stepName } from "./definition.ts";

export interface StepView {
  path: string;
  name: string;
  kind: string;
  status: StepStatus;
  reason?: string;
  /** The last lines of the error. */
  error?: string;
  /** Per target: stack, host, status, deployment id, error (deploy, rollback, hook steps). */
  targets?: unknown[];
  warnings?: string[];
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  attempts?: number;
  /** The stages of the procedure a `procedure` step runs. */
  stages?: StageView[];
}

export interface StageView extends Omit<StepView, "stages" | "kind"> {
  steps: StepView[];
}

export interface RunView {
  id: number;
  procedure: string;
  repo: string;
  branch: string | null;
  head: string | null;
  base: string | null;
  source: string;
  trigger: string | null;
  actor: string;
  status: Run["status"];
  reason?: string;
  error?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  stages: StageView[];
}

/** The run's display name: its procedure, or the trigger that deploys what changed. */
export function runName(run: Pick<Run, "procedure" | "triggerName">): string {
  return (
    run.procedure ?? (run.triggerName ? `${DEPLOY_CHANGED} (trigger ${run.triggerName})` : DEPLOY_CHANGED)
  );
}

export function runView(run: Run, steps: readonly StepRecord[]): RunView {
  const byPath = new Map(steps.map((s) => [s.path, s]));
  const def = run.definition as RunDefinition | null;
  const root = def?.procedures[def.root];
  return {
    id: run.id,
    procedure: runName(run),
    repo: run.repo,
    branch: run.branch,
    head: run.head,
    base: run.base,
    source: run.source,
    trigger: run.triggerName,
    actor: run.actor,
    status: run.status,
    ...(run.reason ? { reason: run.reason } : {}),
    ...(run.error ? { error: tail(run.error) } : {}),
    createdAt: run.createdAt.toISOString(),
    ...times(run.startedAt, run.finishedAt),
    stages: root && def ? stagesOf(def, root, "", byPath) : [],
  };
}

function stagesOf(
  def: RunDefinition,
  proc: Procedure,
  prefix: string,
  byPath: ReadonlyMap<string, StepRecord>,
): StageView[] {
  return proc.stages.map((stage, i) => {
    const path = `${prefix}${i}`;
    const rec = byPath.get(path);
    return {
      path,
      name: stage.name,
      status: rec?.status ?? "queued",
      ...common(rec),
      steps: stage.steps.map((step, j) => {
        const sp = `${path}.${j}`;
        const r = byPath.get(sp);
        const nested = "procedure" in step ? def.procedures[step.procedure] : undefined;
        return {
          path: sp,
          name: stepName(step),
          kind: stepKind(step),
          status: r?.status ?? (rec?.status === "skipped" ? "skipped" : "queued"),
          ...common(r ?? (rec?.status === "skipped" ? rec : undefined)),
          ...(Array.isArray(r?.detail.targets) ? { targets: r.detail.targets as unknown[] } : {}),
          ...(Array.isArray(r?.detail.warnings) && r.detail.warnings.length
            ? { warnings: r.detail.warnings as string[] }
            : {}),
          ...(r && r.attempts > 1 ? { attempts: r.attempts } : {}),
          ...(nested ? { stages: stagesOf(def, nested, `${sp}/`, byPath) } : {}),
        };
      }),
    };
  });
}

function common(rec: StepRecord | undefined) {
  if (!rec) return {};
  return {
    ...(rec.reason ? { reason: rec.reason } : {}),
    ...(rec.error ? { error: tail(rec.error) } : {}),
    ...times(rec.startedAt, rec.finishedAt),
  };
}

function times(started: Date | null, finished: Date | null) {
  return {
    ...(started ? { startedAt: started.toISOString() } : {}),
    ...(finished ? { finishedAt: finished.toISOString() } : {}),
    ...(started && finished ? { durationMs: finished.getTime() - started.getTime() } : {}),
  };
}

/** The end of an error: its last lines say why (a command's stderr ends with its cause). */
export function tail(text: string, lines = 5, chars = 1000): string {
  const end = text.trimEnd().split("\n").slice(-lines).join("\n");
  return end.length > chars ? `…${end.slice(-chars)}` : end;
}

/** Every (stage, step, target) as rows, for terminal tables. */
export function viewRows(view: RunView): string[][] {
  const rows: string[][] = [];
  const walk = (stages: StageView[], indent: string) => {
    for (const s of stages) {
      rows.push([`${indent}${s.name}`, "", s.status, s.reason ?? ""]);
      for (const st of s.steps) {
        rows.push([`${indent}  ${st.name}`, st.kind, st.status, oneLine(st.reason ?? st.error ?? "")]);
        for (const t of (st.targets ?? []) as {
          stack?: string;
          host?: string;
          status?: string;
          action?: string;
        }[])
          rows.push([
            `${indent}    ${t.stack ?? ""}${t.host ? ` @ ${t.host}` : ""}`,
            "",
            t.status ?? t.action ?? "",
            "",
          ]);
        if (st.stages) walk(st.stages, `${indent}    `);
      }
    }
  };
  walk(view.stages, "");
  return rows;
}

const oneLine = (s: string) => s.split("\n").at(-1)?.slice(0, 160) ?? "";
