/**
 * The parts of webhook payloads Stackpilot reads, validated: a payload that does not have them is
 * rejected with the key that is wrong, and nothing else in it is trusted.
 */
import { z } from "zod";

const Sha = z.string().regex(/^[0-9a-f]{40}$/);
const Login = z.string().min(1).max(100);

export const Repository = z.object({
  id: z.number().int(),
  name: z.string().min(1),
  full_name: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/),
  owner: z.object({ login: Login }),
  /** Where to fetch from: the payload's own URL, so GitHub Enterprise works. */
  clone_url: z.url(),
  default_branch: z.string().min(1),
  private: z.boolean().optional(),
});
export type Repository = z.infer<typeof Repository>;

const Installation = z.object({ id: z.number().int() });
const Sender = z.object({ login: Login, type: z.string() });

export const PullRequestEvent = z.object({
  action: z.string(),
  number: z.number().int().positive(),
  repository: Repository,
  installation: Installation,
  sender: Sender,
  pull_request: z.object({
    number: z.number().int().positive(),
    state: z.string(),
    head: z.object({ sha: Sha, ref: z.string(), repo: z.object({ full_name: z.string() }).nullable() }),
    base: z.object({ sha: Sha, ref: z.string(), repo: z.object({ full_name: z.string() }) }),
    html_url: z.url().optional(),
  }),
});
export type PullRequestEvent = z.infer<typeof PullRequestEvent>;

export const PushEvent = z.object({
  ref: z.string(),
  before: z.string().regex(/^[0-9a-f]{40}$/),
  after: z.string().regex(/^[0-9a-f]{40}$/),
  deleted: z.boolean().optional(),
  forced: z.boolean().optional(),
  repository: Repository,
  installation: Installation,
  sender: Sender,
});
export type PushEvent = z.infer<typeof PushEvent>;

export const IssueCommentEvent = z.object({
  action: z.string(),
  repository: Repository,
  installation: Installation,
  sender: Sender,
  issue: z.object({
    number: z.number().int().positive(),
    pull_request: z.object({ url: z.string() }).optional(),
  }),
  comment: z.object({
    id: z.number().int(),
    body: z.string().max(65_536),
    user: Sender,
  }),
});
export type IssueCommentEvent = z.infer<typeof IssueCommentEvent>;

export const CheckRunEvent = z.object({
  action: z.string(),
  repository: Repository,
  installation: Installation,
  sender: Sender,
  requested_action: z.object({ identifier: z.string() }).optional(),
  check_run: z.object({
    id: z.number().int(),
    name: z.string(),
    head_sha: Sha,
    pull_requests: z.array(z.object({ number: z.number().int() })),
  }),
});
export type CheckRunEvent = z.infer<typeof CheckRunEvent>;

export class PayloadError extends Error {
  override name = "PayloadError";
}

/** Parse or throw a PayloadError that names the event and the wrong keys. */
export function parsePayload<S extends z.ZodType>(schema: S, event: string, payload: unknown): z.output<S> {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
  throw new PayloadError(`malformed ${event} payload: ${issues.join("; ")}`);
}
