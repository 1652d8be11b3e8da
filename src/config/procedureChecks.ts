/**
 * Checks of `procedures:` zod cannot express: a `procedure:` step naming a procedure that does not
 * exist, and procedures that call each other in a cycle (`cycle: rollout -> notify-smoke ->
 * rollout`), each reported at the step that closes it.
 */
import { PROCEDURE_NAME, type Procedure } from "./procedureSchema.ts";

export interface ProcedureProblem {
  /** Key path of the `procedure:` step's value. */
  path: (string | number)[];
  message: string;
}

interface Call {
  to: string;
  path: (string | number)[];
}

export function procedureProblems(procedures: Readonly<Record<string, Procedure>>): ProcedureProblem[] {
  const problems: ProcedureProblem[] = [];
  const calls = new Map<string, Call[]>();
  for (const name of Object.keys(procedures)) {
    if (!PROCEDURE_NAME.test(name) || name.length > 100)
      problems.push({
        path: ["procedures", name],
        message: `procedure "${name.slice(0, 100)}": procedure names may contain only letters, digits, ".", "_" and "-" (up to 100)`,
      });
  }
  for (const [name, p] of Object.entries(procedures)) {
    const mine: Call[] = [];
    for (const [i, stage] of p.stages.entries()) {
      for (const [j, step] of stage.steps.entries()) {
        if (!("procedure" in step)) continue;
        const path = ["procedures", name, "stages", i, "steps", j, "procedure"];
        if (!Object.hasOwn(procedures, step.procedure)) {
          const known = Object.keys(procedures);
          problems.push({
            path,
            message: `unknown procedure "${step.procedure}" (defined: ${known.join(", ")})`,
          });
        } else mine.push({ to: step.procedure, path });
      }
    }
    calls.set(name, mine);
  }
  // Depth-first from each procedure in file order; a call back into the current path is a cycle,
  // reported once (at the call that closes it, from the first procedure of the cycle in the file).
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    for (const call of calls.get(name) ?? []) {
      const at = trail.indexOf(call.to);
      if (at >= 0) {
        const cycle = [...trail.slice(at), call.to];
        const key = [...cycle.slice(0, -1)].sort().join("\0");
        if (!reported.has(key)) {
          reported.add(key);
          problems.push({ path: call.path, message: `cycle: ${cycle.join(" -> ")}` });
        }
        continue;
      }
      if (trail.length < 64) visit(call.to, [...trail, call.to]);
    }
  };
  for (const name of calls.keys()) visit(name, [name]);
  return problems;
}
