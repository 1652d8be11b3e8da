/**
 * The simulated GitHub API's requests, recorded from nock scopes' `request` events: nock 15's
 * reply callbacks never answer Octokit's fetch, and body matchers also see other requests' bodies,
 * so tests reply statically and assert on what was recorded here.
 */
import nock from "nock";

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The JSON body, when there was one. */
  body: Record<string, unknown> | undefined;
}

export function recordedApi(base: string) {
  const requests: RecordedRequest[] = [];
  return {
    requests,
    /** A scope on `base` whose requests are recorded. */
    api(): nock.Scope {
      const scope = nock(base);
      scope.on(
        "request",
        (req: { method?: string; url?: string; path?: string }, _i: unknown, body: string) => {
          const path = req.path ?? new URL(req.url as string, base).pathname;
          let parsed: Record<string, unknown> | undefined;
          try {
            parsed = body ? (JSON.parse(body) as Record<string, unknown>) : undefined;
          } catch {
            parsed = undefined;
          }
          requests.push({
            method: String(req.method).toUpperCase(),
            path: path.split("?")[0] as string,
            body: parsed,
          });
        },
      );
      return scope;
    },
    /** Bodies of the requests with this method and path. */
    sent: (method: string, path: string) =>
      requests.filter((r) => r.method === method && r.path === path).map((r) => r.body ?? {}),
  };
}

/**
 * Persistent replies to every GitHub call a push's plan and rollout make for repositories of
 * `acme`: the installation token, check runs, deployments and their statuses, and no pull request
 * for any commit. For tests that check what was deployed and what the checks said, not the calls.
 */
export function answerRollouts(scope: nock.Scope, token: string): nock.Scope {
  return scope
    .persist()
    .post("/app/installations/42/access_tokens")
    .reply(201, { token, expires_at: "2099-01-01T00:00:00Z", permissions: {} })
    .post(/\/repos\/acme\/\w+\/check-runs$/)
    .reply(201, { id: 555 })
    .patch(/\/repos\/acme\/\w+\/check-runs\/\d+$/)
    .reply(200, { id: 555 })
    .post(/\/repos\/acme\/\w+\/deployments$/)
    .reply(201, { id: 77 })
    .post(/\/repos\/acme\/\w+\/deployments\/\d+\/statuses$/)
    .reply(201, { id: 1 })
    .get(/\/repos\/acme\/\w+\/commits\/\w+\/pulls$/)
    .reply(200, []);
}

/**
 * GraphQL answers for the earlier-replies lookup every command reply makes (api/olderReplies.ts):
 * the PR's comments are `nodes` (none by default), so nothing is collapsed unless a test says so.
 */
export function olderRepliesAnswer(scope: nock.Scope, path = "/graphql", nodes: unknown[] = []): nock.Scope {
  return scope
    .post(path)
    .optionally()
    .reply(200, { data: { repository: { issueOrPullRequest: { comments: { nodes } } } } })
    .persist();
}
