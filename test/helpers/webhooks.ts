/** Real example webhook payloads (@octokit/webhooks-examples) and GitHub's signature scheme. */
import { createHmac, generateKeyPairSync } from "node:crypto";
import { createRequire } from "node:module";

interface ExampleSet {
  name: string;
  examples: Record<string, unknown>[];
}
const examples = createRequire(import.meta.url)("@octokit/webhooks-examples") as ExampleSet[];

/** Every example of an event (and action), deep-copied so tests may edit them. */
export function examplePayloads(event: string, action?: string): Record<string, unknown>[] {
  const set = examples.find((e) => e.name === event);
  if (!set) throw new Error(`no examples for ${event}`);
  return set.examples
    .filter((p) => action === undefined || p.action === action)
    .map((p) => structuredClone(p));
}

/** The first example, with an installation (the examples of some events lack one). */
export function examplePayload(event: string, action?: string): Record<string, unknown> {
  const [first] = examplePayloads(event, action);
  if (!first) throw new Error(`no example of ${event}.${action}`);
  first.installation ??= { id: 1234, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMTIzNA==" };
  return first;
}

/** `X-Hub-Signature-256` of a body. */
export function sign(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A private key for a test App: Probot signs its JWTs with it (GitHub itself is simulated). */
export const testAppPrivateKey: string = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

/** The repository a test serves, as payloads name it. */
export interface PayloadRepo {
  /** `owner/name`. */
  fullName: string;
  cloneUrl: string;
}

/** `payload` made to be about `repo` (default branch `main`) and installation 42. */
export function aboutRepo(payload: Record<string, unknown>, repo: PayloadRepo): Record<string, unknown> {
  const [owner, name] = repo.fullName.split("/") as [string, string];
  const repository = payload.repository as Record<string, unknown>;
  Object.assign(repository, {
    name,
    full_name: repo.fullName,
    clone_url: repo.cloneUrl,
    default_branch: "main",
    owner: { ...(repository.owner as object), login: owner },
  });
  payload.installation = { id: 42 };
  return payload;
}

/** An `issue_comment` example (action `created` unless given) by `user` on pull request `pr` of `repo`. */
export function prCommentPayload(opts: {
  repo: PayloadRepo;
  api: string;
  pr: number;
  commentId: number;
  body: string;
  user: { login: string; type: string };
  action?: string;
}): Record<string, unknown> {
  const payload = aboutRepo(examplePayload("issue_comment", opts.action ?? "created"), opts.repo);
  Object.assign(payload.issue as object, {
    number: opts.pr,
    pull_request: { url: `${opts.api}/repos/${opts.repo.fullName}/pulls/${opts.pr}` },
  });
  Object.assign(payload.comment as object, { id: opts.commentId, body: opts.body });
  Object.assign((payload.comment as { user: object }).user, opts.user);
  Object.assign(payload.sender as object, opts.user);
  return payload;
}

/**
 * POSTs a webhook delivery signed with `secret` to the App at `port` on loopback, or to a webhook
 * URL (an App elsewhere, e.g. in a container on a test host); the HTTP status.
 */
export async function deliverWebhook(
  port: number | string,
  secret: string,
  delivery: { event: string; payload: unknown; id: string },
): Promise<number> {
  const body = JSON.stringify(delivery.payload);
  const url = typeof port === "string" ? port : `http://127.0.0.1:${port}/api/github/webhooks`;
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": delivery.event,
      "x-github-delivery": delivery.id,
      "x-hub-signature-256": sign(body, secret),
    },
    body,
  });
  await res.text();
  return res.status;
}
