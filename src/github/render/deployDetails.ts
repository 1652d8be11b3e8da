/**
 * The deploy check run's details (its `text`, under the summary): the errors of the (stack, host)s
 * that failed, then every hook run, within GitHub's limit.
 */
import { verdictText } from "../../deploy/hookSteps.ts";
import { codeBlock, codeSpan } from "../../plan/render/escape.ts";
import { GITHUB_TEXT_LIMIT } from "../../plan/render/markdown.ts";
import type { DeployResult } from "./checkRun.ts";

/** The failures' errors, then the hook runs in the room they leave. */
export function deployDetails(results: readonly DeployResult[]): string {
  const failedText = failures(results);
  return failedText + hookDetails(results, GITHUB_TEXT_LIMIT - 200 - failedText.length);
}

/** A (stack, host) that ended in failure: it failed or timed out. */
export function hasFailed(r: DeployResult): boolean {
  return r.status === "completed" && (r.conclusion === "failure" || r.conclusion === "timed_out");
}

/** Characters of one failure's error shown in the check run's details (its end: the cause). */
const FAILURE_TAIL = 4_000;

/**
 * The check run's details: each failed (stack, host)'s error in a code block (its last
 * FAILURE_TAIL characters: the failing command and the end of its output), within GitHub's limit.
 */
function failures(results: readonly DeployResult[]): string {
  const failed = results.filter((r) => hasFailed(r) && r.error);
  if (failed.length === 0) return "";
  let out = "### Failures\n";
  for (const [i, r] of failed.entries()) {
    const error = (r.error as string).trim();
    const tail = error.length > FAILURE_TAIL ? `…${error.slice(-FAILURE_TAIL)}` : error;
    const section = `\n#### ${codeSpan(r.stack)} on ${codeSpan(r.host)}\n\n${codeBlock(tail)}\n`;
    const rest = failed.length - i;
    if (out.length + section.length > GITHUB_TEXT_LIMIT - 200) {
      out += `\n_…${rest} more ${rest === 1 ? "failure" : "failures"} did not fit._\n`;
      break;
    }
    out += section;
  }
  return out;
}

/** Characters of one hook attempt's output shown in the details (its end). */
const HOOK_OUTPUT_TAIL = 1_500;

/**
 * The check run's hook runs: per (stack, host), each attempt's verdict and the end of its output,
 * within `room` characters (what does not fit is counted).
 */
function hookDetails(results: readonly DeployResult[], room: number): string {
  const withHooks = results.filter((r) => r.hooks?.length);
  if (withHooks.length === 0) return "";
  let out = "\n### Hooks\n";
  for (const [i, r] of withHooks.entries()) {
    let section = `\n#### ${codeSpan(r.stack)} on ${codeSpan(r.host)}\n`;
    for (const run of r.hooks ?? []) {
      const output = run.output.trim();
      const tail = output.length > HOOK_OUTPUT_TAIL ? `…${output.slice(-HOOK_OUTPUT_TAIL)}` : output;
      section += `\n- ${codeSpan(run.hook)} attempt ${run.attempt}: ${verdictText(run)}${run.required ? "" : " (not required)"}, ${(run.durationMs / 1000).toFixed(1)} s\n`;
      if (tail) section += `\n${codeBlock(tail)}\n`;
    }
    const rest = withHooks.length - i;
    if (out.length + section.length > room - 100) {
      out += `\n_…hooks of ${rest} more ${rest === 1 ? "target" : "targets"} did not fit; \`stackpilot status --deployment ID\` shows them._\n`;
      break;
    }
    out += section;
  }
  return out;
}
