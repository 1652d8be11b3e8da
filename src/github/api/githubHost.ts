/**
 * Which GitHub the App talks to: github.com, or a GitHub Enterprise Server named by `GHE_HOST`
 * (and `GHE_PROTOCOL`), the variables Probot reads, read the way Probot reads them. The one place
 * that knows both the REST API's base URL and the only origin git may clone from and send the
 * installation token to.
 */

export interface GitHubHost {
  /** `https://github.com`, or `<GHE_PROTOCOL>://<GHE_HOST>`: web pages and git clones. */
  origin: string;
  /** `https://api.github.com`, or `<origin>/api/v3`. */
  apiUrl: string;
}

export const GITHUB_COM: GitHubHost = { origin: "https://github.com", apiUrl: "https://api.github.com" };

export class GitHubHostError extends Error {
  override name = "GitHubHostError";
}

/** The GitHub of an environment; throws GitHubHostError naming the variable that is wrong. */
export function githubHost(env: {
  GHE_HOST?: string | undefined;
  GHE_PROTOCOL?: string | undefined;
}): GitHubHost {
  const protocol = env.GHE_PROTOCOL || "https";
  if (protocol !== "https" && protocol !== "http")
    throw new GitHubHostError(`GHE_PROTOCOL must be https or http, not ${JSON.stringify(protocol)}`);
  // Probot treats an empty GHE_HOST as unset.
  const host = env.GHE_HOST;
  if (!host) return GITHUB_COM;
  let url: URL | undefined;
  try {
    url = new URL(`${protocol}://${host}`);
  } catch {
    url = undefined;
  }
  // Only a host name and maybe a port: a path or credentials would change where tokens go.
  if (!url || /[/@?#\\\s]/.test(host))
    throw new GitHubHostError(
      `GHE_HOST must be a host name with an optional port (such as ghe.example.com or ghe.example.com:8443), not ${JSON.stringify(host)}`,
    );
  return { origin: url.origin, apiUrl: `${url.origin}/api/v3` };
}
