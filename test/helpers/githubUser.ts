/**
 * GitHub's side of one user signing in to the web UI, simulated with nock: the OAuth code
 * exchange on the web origin, then (with the user's token) who they are and which repositories
 * of the App's installation 42 they can read.
 */
import nock from "nock";
import type { GitHubHost } from "../../src/github/api/githubHost.ts";

export function nockGitHubUser(
  gh: GitHubHost,
  login: string,
  repos: string[],
  opts: { times?: number; persist?: boolean } = {},
): nock.Scope {
  const token = `ghu_${login}`;
  nock(gh.origin).post("/login/oauth/access_token").reply(
    200,
    {
      access_token: token,
      token_type: "bearer",
      scope: "",
      expires_in: 28_800,
      refresh_token: "ghr_x",
      refresh_token_expires_in: 15_811_200,
    },
    { date: new Date().toUTCString() },
  );
  const api = nock(gh.apiUrl, { reqheaders: { authorization: `token ${token}` } });
  if (opts.persist) api.persist();
  // Persisted interceptors answer any number of times; others `times` (default once).
  const counted = (i: nock.Interceptor) => (opts.persist ? i : i.times(opts.times ?? 1));
  api.get("/user").reply(200, { login, id: 1 });
  counted(api.get("/user/installations").query(true)).reply(200, {
    total_count: 1,
    installations: [{ id: 42 }],
  });
  counted(api.get("/user/installations/42/repositories").query(true)).reply(200, {
    total_count: repos.length,
    repositories: repos.map((full_name) => ({ full_name })),
  });
  return api;
}
