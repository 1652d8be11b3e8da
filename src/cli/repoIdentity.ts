/** Which repository a checkout is, in the state store's terms (kept light: `plan` loads it too). */
import type { GitRepo } from "../git/repo.ts";

/**
 * The repository's identity in the state store: `owner/name` from its origin (as the GitHub App
 * sees it, so CLI and App share state), else its absolute path.
 */
export async function repoIdentity(repo: GitRepo): Promise<string> {
  const origin = await repo.originUrl();
  return (origin && ownerAndName(origin)) ?? repo.dir;
}

/** `https://host/owner/name.git`, `git@host:owner/name.git`, `ssh://git@host/owner/name` -> `owner/name`. */
export function ownerAndName(url: string): string | undefined {
  const m = /[:/]([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/?$/.exec(url);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
