/**
 * What a trigger request's body asks for (step 3 of triggers.ts): the body is empty or a JSON
 * object; a push payload (GitHub, Gitea, Forgejo) gives the branch and range, and a branch or
 * repository outside the trigger's filters is ignored, with the reason. Pure: nothing is stored.
 */
import { z } from "zod";
import type { TriggerConfig } from "../../config/triggers.ts";
import { compileGlob } from "../../util/glob.ts";
import type { Refusal } from "./webhookRequest.ts";

/** What a push payload (GitHub, Gitea, Forgejo) says; anything else in the body is ignored. */
const PushLike = z.object({
  ref: z.string().max(300),
  before: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .optional(),
  after: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .optional(),
  repository: z.object({ full_name: z.string().max(300) }).optional(),
});
type PushLike = z.infer<typeof PushLike>;

/** The branch and range a run starts from; without `head`, the branch's head when it starts. */
export interface RunTarget {
  branch: string | null;
  head?: string;
  base?: string;
}

/**
 * The body: empty, or a JSON object in UTF-8. Wrapped, so that no body the sender writes (say
 * `{"status": 500, "error": "x"}`) can pass for a refusal and choose the answer.
 */
export function parseBody(raw: Buffer): { body: Record<string, unknown> } | Refusal {
  if (raw.length === 0) return { body: {} };
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    return { status: 400, error: "the body is neither empty nor JSON in UTF-8" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { status: 400, error: "the body is JSON but not an object" };
  return { body: value as Record<string, unknown> };
}

/** Where the trigger's run starts, or why this body is ignored. */
export function runTarget(
  trigger: TriggerConfig,
  body: Record<string, unknown>,
): RunTarget | { ignored: string } {
  const push = PushLike.safeParse(body).data;
  const pushedBranch = push?.ref.startsWith("refs/heads/") ? push.ref.slice(11) : undefined;
  if (push && !pushedBranch) return { ignored: `${push.ref} is not a branch` };
  const pushedRepo = push?.repository?.full_name;
  const outside = outsideFilters(trigger, pushedBranch, pushedRepo);
  if (outside) return { ignored: outside };
  // The payload's range applies to the trigger's repository only; otherwise: its branch's head.
  const sameRepo = !pushedRepo || pushedRepo.toLowerCase() === trigger.repository.toLowerCase();
  if (!sameRepo) return { branch: trigger.branch ?? null };
  return { branch: pushedBranch ?? trigger.branch ?? null, ...pushedRange(push) };
}

/** Why a pushed branch or repository is not one the trigger watches; undefined when it is. */
function outsideFilters(
  trigger: TriggerConfig,
  pushedBranch: string | undefined,
  pushedRepo: string | undefined,
): string | undefined {
  const branches = trigger.branches ?? (trigger.branch ? [trigger.branch] : undefined);
  if (pushedBranch && branches && !compileGlob(branches)(pushedBranch))
    return `branch ${pushedBranch} is not among the trigger's branches (${branches.join(", ")})`;
  const repos = trigger.repositories ?? [trigger.repository];
  if (pushedRepo && !compileGlob(repos.map((r) => r.toLowerCase()))(pushedRepo.toLowerCase()))
    return `repository ${pushedRepo} is not among the trigger's repositories (${repos.join(", ")})`;
  return undefined;
}

/** The pushed range; an all-zero sha (a branch created or deleted) is no commit. */
function pushedRange(push: PushLike | undefined): { head?: string; base?: string } {
  if (!push?.after || /^0+$/.test(push.after)) return {};
  return { head: push.after, ...(push.before && !/^0+$/.test(push.before) ? { base: push.before } : {}) };
}
