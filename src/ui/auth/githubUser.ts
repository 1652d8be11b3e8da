/**
 * What the UI asks GitHub as the signed-in user (a user-to-server token of the App): the OAuth
 * code exchange, who the user is, which repositories of the App's installations they can read.
 * OAuth goes to the web origin, the API to the API URL (githubHost.ts); each call is time-bounded.
 */
import { exchangeWebFlowCode, getWebFlowAuthorizationUrl } from "@octokit/oauth-methods";
import { Octokit } from "@octokit/rest";
import type { GitHubHost } from "../../github/api/githubHost.ts";
import type { ReadableRepo } from "../../state/sessions.ts";

/** Each sign-in or access check gets this long from GitHub, all its requests together. */
const GITHUB_TIMEOUT_MS = 15_000;
/** A user sees at most this many repositories (every page of GitHub's listing costs a request). */
export const MAX_READABLE_REPOS = 2_000;

function octokit(github: GitHubHost, token?: string): Octokit {
  return new Octokit({
    baseUrl: github.apiUrl,
    ...(token ? { auth: token } : {}),
    request: { signal: AbortSignal.timeout(GITHUB_TIMEOUT_MS) },
    userAgent: "stackpilot-ui",
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
}

export function authorizeUrl(
  github: GitHubHost,
  client: { clientId: string; callbackUrl: string },
  state: string,
): string {
  return getWebFlowAuthorizationUrl({
    clientType: "github-app",
    clientId: client.clientId,
    redirectUrl: client.callbackUrl,
    state,
    allowSignup: false,
    request: octokit(github).request,
  }).url;
}

export interface SignedInUser {
  login: string;
  token: string;
  /** When GitHub said the token expires (8 hours for an App's user token), if it did. */
  expiresAt: Date | undefined;
}

/** The code GitHub sent back, exchanged for the user's token; then who the user is. */
export async function exchangeCode(
  github: GitHubHost,
  client: { clientId: string; clientSecret: string; callbackUrl: string },
  code: string,
): Promise<SignedInUser> {
  const { authentication } = await exchangeWebFlowCode({
    clientType: "github-app",
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    code,
    redirectUrl: client.callbackUrl,
    request: octokit(github).request,
  });
  const { data: user } = await octokit(github, authentication.token).rest.users.getAuthenticated();
  const expiresAt = "expiresAt" in authentication ? new Date(authentication.expiresAt) : undefined;
  return { login: user.login, token: authentication.token, expiresAt };
}

/** The repositories of the App's installations this user can read (GitHub's own answer). */
export async function readableRepos(github: GitHubHost, token: string): Promise<ReadableRepo[]> {
  const client = octokit(github, token);
  const out: ReadableRepo[] = [];
  for await (const installations of client.paginate.iterator(
    client.rest.apps.listInstallationsForAuthenticatedUser,
    {
      per_page: 100,
    },
  )) {
    for (const installation of installations.data) {
      for await (const repos of client.paginate.iterator(
        client.rest.apps.listInstallationReposForAuthenticatedUser,
        { installation_id: installation.id, per_page: 100 },
      )) {
        for (const r of repos.data) {
          out.push({ repo: r.full_name, installationId: installation.id });
          if (out.length >= MAX_READABLE_REPOS) return out;
        }
      }
    }
  }
  return out;
}
