/**
 * What a run executes: its procedure and every procedure it calls, as the default branch defined
 * them when the run started. Kept with the run (procedure_runs.definition), so a run resumed after
 * a restart runs the steps it started with.
 */
import type { Procedure, Step, StepKind } from "../config/procedureSchema.ts";
import { stepKind } from "../config/procedureSchema.ts";
import { describeSelector } from "./patterns.ts";

export interface RunDefinition {
  /** The procedure the run starts with. */
  root: string;
  procedures: Record<string, Procedure>;
}

/** The root used for a trigger without a procedure: deploy what changed. */
export const DEPLOY_CHANGED = "deploy-changed";

/** A trigger without a procedure: one stage deploying every stack whose content differs from what runs. */
export function deployChangedDefinition(): RunDefinition {
  return {
    root: DEPLOY_CHANGED,
    procedures: {
      [DEPLOY_CHANGED]: {
        stages: [{ name: "deploy", steps: [{ deploy: { stacks: ["*"], exclude: [], force: false } }] }],
      },
    },
  };
}

/** The procedure `name` and those it calls, or undefined when the policy has no such procedure. */
export function definitionOf(
  procedures: ReadonlyMap<string, Procedure>,
  name: string,
): RunDefinition | undefined {
  if (!procedures.has(name)) return undefined;
  const out: Record<string, Procedure> = {};
  const todo = [name];
  while (todo.length) {
    const next = todo.pop() as string;
    const p = procedures.get(next);
    if (!p || Object.hasOwn(out, next)) continue;
    out[next] = p;
    for (const stage of p.stages)
      for (const step of stage.steps) if ("procedure" in step) todo.push(step.procedure);
  }
  return { root: name, procedures: out };
}

/** A step's name: its own, else what it does (`deploy db-*`, `procedure smoke`, `sleep 30 s`). */
export function stepName(step: Step): string {
  if (step.name) return step.name;
  const kind: StepKind = stepKind(step);
  if ("deploy" in step || "build" in step || "rollback" in step) {
    const args = "deploy" in step ? step.deploy : "build" in step ? step.build : step.rollback;
    const stacks = args.stacks.map(describeSelector).join(" ");
    const exclude = args.exclude.length ? ` except ${args.exclude.map(describeSelector).join(" ")}` : "";
    return `${kind} ${stacks}${exclude}`;
  }
  if ("hook" in step) return `hook on ${step.hook.hosts.map(describeSelector).join(" ")}`;
  if ("sleep" in step) return `sleep ${step.sleep} s`;
  return `procedure ${step.procedure}`;
}
