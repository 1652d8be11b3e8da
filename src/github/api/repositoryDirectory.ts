/**
 * Repositories known by name only (a trigger, the CLI, a schedule name `owner/name`): their
 * installation, clone URL and default branch, asked of GitHub and kept for a short while
 * (lru-cache: bounded, with a time to live), since every run of a trigger would otherwise cost two
 * GitHub round trips before its first step. What is kept decides nothing about trust: the rules
 * are still read from the default branch at the commit fetched for each run; a stale entry (a
 * renamed default branch, an uninstalled App) lasts at most `ttlMs` and fails the fetch or the
 * token, which the queue retries. Concurrent lookups of one name share one request; failures are
 * not kept.
 */
import { LRUCache } from "lru-cache";
import type { Probot } from "probot";
import type { RunRepoRef } from "../../state/procedureRuns.ts";
import type { Octokit } from "../jobs/jobContext.ts";

/** The App is not installed on the repository, or it does not exist: a retry does not help. */
export class RepositoryNotInstalled extends Error {
  override name = "RepositoryNotInstalled";
  readonly permanent = true;
}

export interface RepositoryDirectory {
  resolve(fullName: string): Promise<RunRepoRef>;
}

export const REPOSITORY_TTL_MS = 60_000;

export function repositoryDirectory(
  app: Pick<Probot, "auth">,
  opts: { ttlMs?: number; max?: number } = {},
): RepositoryDirectory {
  const cache = new LRUCache<string, RunRepoRef>({
    max: opts.max ?? 1000,
    ttl: opts.ttlMs ?? REPOSITORY_TTL_MS,
    fetchMethod: (key) => lookUp(app, key),
  });
  return {
    async resolve(fullName) {
      const ref = await cache.fetch(fullName.toLowerCase());
      if (!ref) throw new Error(`no answer from GitHub for ${fullName}`);
      return ref;
    },
  };
}

async function lookUp(app: Pick<Probot, "auth">, fullName: string): Promise<RunRepoRef> {
  const [owner, name] = fullName.split("/") as [string, string];
  const appOctokit = (await app.auth()) as Octokit;
  let installationId: number;
  try {
    installationId = (await appOctokit.rest.apps.getRepoInstallation({ owner, repo: name })).data.id;
  } catch (err) {
    if ((err as { status?: number }).status === 404)
      throw new RepositoryNotInstalled(
        `the App is not installed on ${fullName} (or the repository does not exist)`,
      );
    throw err;
  }
  const octokit = (await app.auth(installationId)) as Octokit;
  const { data } = await octokit.rest.repos.get({ owner, repo: name });
  return {
    installationId,
    owner: data.owner.login,
    name: data.name,
    fullName: data.full_name,
    cloneUrl: data.clone_url,
    defaultBranch: data.default_branch,
  };
}
