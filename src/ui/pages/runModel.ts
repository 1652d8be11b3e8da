/**
 * A procedure run as rows of one table (pure): its stages and steps in order, a nested
 * procedure's stages under the step that runs it (depth), each with its state in words, why it
 * was skipped or failed, its timing, and the targets it deployed, linked to their deployments.
 */

import type { RunView, StageView, StepView } from "../../procedures/view.ts";
import type { RunStatus, StepStatus } from "../../state/procedureRuns.ts";
import { deploymentPath } from "./format.ts";

export interface RunTargetView {
  stack: string;
  host: string;
  status: string;
  /** The deployment the step made there, when it made one. */
  href: string | undefined;
}

export interface RunRowView {
  depth: number;
  stage: boolean;
  name: string;
  kind: string;
  status: string;
  tone: string;
  /** Why it was skipped, what it did, or the end of its error. */
  why: string;
  started: string;
  duration: string;
  attempts: number | undefined;
  targets: RunTargetView[];
}

/** Words and a tone (never colour alone) for a run's or a step's state. */
export function runStateOf(status: RunStatus | StepStatus): { word: string; tone: string } {
  switch (status) {
    case "succeeded":
      return { word: "succeeded", tone: "ok" };
    case "failed":
      return { word: "failed", tone: "bad" };
    case "running":
    case "queued":
      return { word: status, tone: "run" };
    case "skipped":
      return { word: "skipped", tone: "" };
    case "superseded":
      return { word: "superseded", tone: "" };
  }
}

/** `850 ms`, `12.3 s`, `4m 05s`: for table cells. */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return "";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

/** `2026-11-22 10:00:00 UTC` from an ISO time (what runView holds). */
export function whenIso(iso: string | undefined): string {
  return iso ? `${iso.slice(0, 19).replace("T", " ")} UTC` : "";
}

export function runRows(view: RunView): RunRowView[] {
  const rows: RunRowView[] = [];
  const walk = (stages: readonly StageView[], depth: number) => {
    for (const stage of stages) {
      rows.push(rowOf(stage, depth, true, ""));
      for (const step of stage.steps) {
        rows.push(rowOf(step, depth + 1, false, step.kind));
        if (step.stages) walk(step.stages, depth + 2);
      }
    }
  };
  walk(view.stages, 0);
  return rows;
}

function rowOf(s: StageView | StepView, depth: number, stage: boolean, kind: string): RunRowView {
  const state = runStateOf(s.status);
  return {
    depth,
    stage,
    name: s.name,
    kind,
    status: state.word,
    tone: state.tone,
    why: [s.reason, s.error].filter(Boolean).join(": "),
    started: whenIso(s.startedAt),
    duration: duration(s.durationMs),
    attempts: s.attempts,
    targets: (s.targets ?? []).map(targetOf),
  };
}

/** A target as a deploy step records it (github/jobs/procedureSteps.ts); unknown fields are text. */
function targetOf(t: unknown): RunTargetView {
  const r = (t ?? {}) as Record<string, unknown>;
  const id = r.deploymentId;
  return {
    stack: typeof r.stack === "string" ? r.stack : "",
    host: typeof r.host === "string" ? r.host : "",
    status: String(r.status ?? r.action ?? ""),
    href: typeof id === "number" && Number.isSafeInteger(id) && id > 0 ? deploymentPath(id) : undefined,
  };
}
