/** The plan as one JSON object (`stackpilot plan --json`); the Plan type is the schema. */
import type { Plan } from "../plan.ts";

export function renderJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}
