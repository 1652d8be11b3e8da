/**
 * Webhook event -> job. Pure: decides whether an event matters and what work it asks for; the
 * handler only records the delivery and queues the job, so GitHub gets its answer at once.
 */

import type { RunRepoRef } from "../state/procedureRuns.ts";
import {
  CheckRunEvent,
  IssueCommentEvent,
  PullRequestEvent,
  PushEvent,
  parsePayload,
  type Repository,
} from "./payloads.ts";

/** How a job reaches its repository: the same record a procedure run keeps with itself. */
export type RepoRef = RunRepoRef;

export type GithubJob =
  /** The worker reads the PR itself (head, base, fork): the event may be stale by the time it runs. */
  | { kind: "plan-pr"; repo: RepoRef; pr: number; headSha: string }
  | {
      kind: "push";
      repo: RepoRef;
      before: string;
      after: string;
      branch: string;
      /** Who pushed (merged); absent in jobs queued before it was recorded. */
      pusher?: string;
    }
  /**
   * A push to a repository `repo` uses as a source (state/sources.ts): plan and deploy `repo`'s
   * default branch as its rules deploy a push there. Queued by the source's push job.
   */
  | {
      kind: "source-push";
      repo: RepoRef;
      /** owner/name of the source repository pushed to. */
      source: string;
      branch: string;
      sha: string;
      pusher?: string;
    }
  | {
      kind: "comment";
      repo: RepoRef;
      pr: number;
      commentId: number;
      body: string;
      actor: { login: string; type: string };
    }
  | {
      kind: "deploy-button";
      repo: RepoRef;
      pr: number;
      headSha: string;
      actor: { login: string; type: string };
    };

export const HANDLED_EVENTS = [
  "pull_request.opened",
  "pull_request.synchronize",
  "pull_request.reopened",
  "push",
  "issue_comment.created",
  "check_run.requested_action",
  "check_run.rerequested",
] as const;

function repoRef(repo: Repository, installationId: number): RepoRef {
  return {
    installationId,
    owner: repo.owner.login,
    name: repo.name,
    fullName: repo.full_name,
    cloneUrl: repo.clone_url,
    defaultBranch: repo.default_branch,
  };
}

/** The job an event asks for, or undefined when it asks for nothing. Throws PayloadError on malformed payloads. */
export function jobFor(event: string, payload: unknown): GithubJob | undefined {
  const [name, action] = event.split(".");
  if (name === "pull_request") {
    const e = parsePayload(PullRequestEvent, event, payload);
    return {
      kind: "plan-pr",
      repo: repoRef(e.repository, e.installation.id),
      pr: e.pull_request.number,
      headSha: e.pull_request.head.sha,
    };
  }
  if (name === "push") {
    const e = parsePayload(PushEvent, event, payload);
    // Only branch pushes; a deleted branch has nothing to plan.
    if (!e.ref.startsWith("refs/heads/") || e.deleted) return undefined;
    return {
      kind: "push",
      repo: repoRef(e.repository, e.installation.id),
      before: e.before,
      after: e.after,
      branch: e.ref.slice(11),
      pusher: e.sender.login,
    };
  }
  if (name === "issue_comment" && action === "created") {
    const e = parsePayload(IssueCommentEvent, event, payload);
    if (!e.issue.pull_request) return undefined;
    return {
      kind: "comment",
      repo: repoRef(e.repository, e.installation.id),
      pr: e.issue.number,
      commentId: e.comment.id,
      body: e.comment.body,
      actor: { login: e.comment.user.login, type: e.comment.user.type },
    };
  }
  if (name === "check_run") {
    const e = parsePayload(CheckRunEvent, event, payload);
    const pr = e.check_run.pull_requests[0]?.number;
    if (pr === undefined || !e.check_run.name.startsWith("stackpilot/")) return undefined;
    const repo = repoRef(e.repository, e.installation.id);
    if (action === "requested_action" && e.requested_action?.identifier === "deploy") {
      return {
        kind: "deploy-button",
        repo,
        pr,
        headSha: e.check_run.head_sha,
        actor: { login: e.sender.login, type: e.sender.type },
      };
    }
    if (action === "rerequested") return { kind: "plan-pr", repo, pr, headSha: e.check_run.head_sha };
  }
  return undefined;
}
