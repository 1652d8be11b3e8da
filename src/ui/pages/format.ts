/** Small, pure formatting the pages share: links to GitHub, ages, result words. */
import { REPO_NAME } from "../../config/repoConfigSchema.ts";
import type { DeploymentStatus } from "../../state/deployments.ts";

const SHA = /^[0-9a-f]{7,64}$/;

/**
 * A commit's page on GitHub (GHE-aware: `origin` comes from githubHost.ts), or undefined when the
 * repository is not an `owner/name` (a CLI checkout path) or the commit is not a hex id: only
 * http(s) links built from validated parts ever reach a page.
 */
export function commitUrl(origin: string, repo: string, sha: string): string | undefined {
  if (!REPO_NAME.test(repo) || !SHA.test(sha) || !/^https?:\/\//.test(origin)) return undefined;
  return `${origin}/${repo}/commit/${sha}`;
}

/**
 * The matrix's link to a deployed commit: `/ui/c/ID` (commitPage.ts) answers with a redirect to
 * the commit on GitHub. A tenth of the bytes of the GitHub URL, in each of up to 10,000 cells.
 */
export function deployedCommitPath(deploymentId: number): string {
  return `/ui/c/${deploymentId}`;
}

export function short(sha: string): string {
  return sha.slice(0, 7);
}

/** `now`, `42s`, `5m`, `3h`, `2d`: coarse, for table cells. */
export function age(from: Date, now: number): string {
  const s = Math.max(0, Math.round((now - from.getTime()) / 1000));
  if (s < 10) return "now";
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** `2026-11-22 10:00:00 UTC` */
export function when(d: Date | null): string {
  return d ? `${d.toISOString().slice(0, 19).replace("T", " ")} UTC` : "";
}

/** Words, not colour alone: what a deployment's status reads as, and its tone for the stylesheet. */
export function resultOf(status: DeploymentStatus): { word: string; tone: "ok" | "bad" | "run" | "" } {
  switch (status) {
    case "succeeded":
      return { word: "ok", tone: "ok" };
    case "failed":
      return { word: "failed", tone: "bad" };
    case "rolled_back":
      return { word: "rolled back", tone: "bad" };
    case "interrupted":
      return { word: "interrupted", tone: "bad" };
    case "running":
      return { word: "running", tone: "run" };
    case "queued":
      return { word: "queued", tone: "run" };
    case "superseded":
      return { word: "superseded", tone: "" };
  }
}

export const FAILED: ReadonlySet<DeploymentStatus> = new Set(["failed", "rolled_back", "interrupted"]);

export function deploymentPath(id: number): string {
  return `/ui/deployments/${id}`;
}
