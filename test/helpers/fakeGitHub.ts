/**
 * A simulated GitHub Enterprise for tests that run the App as a separate process (to kill it):
 * nock cannot reach into another process, so the GitHub REST calls the App makes are answered by
 * this handler on loopback, on the same origin as the git server (as GitHub Enterprise serves
 * both), with the state a test sets up and every request recorded. Only the calls Stackpilot
 * makes are here; anything else is a 404 and recorded as unexpected.
 *
 *   const github = fakeGitHub();
 *   const git = await startGitHttpServer({ token: github.token, api: github.handle });
 *   // the App runs with GHE_HOST=<git host>, GHE_PROTOCOL=http
 */
import { execFileSync } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";

export interface ApiRequest {
  method: string;
  /** Path below `/api/v3`, without the query string. */
  path: string;
  body: Record<string, unknown> | undefined;
  at: number;
}

export interface FakeDeployment {
  id: number;
  repo: string;
  body: Record<string, unknown>;
  statuses: Record<string, unknown>[];
}

export interface FakeCheckRun {
  id: number;
  repo: string;
  /** The create request's body, then every update's, in order. */
  bodies: Record<string, unknown>[];
  /** The latest state, every body merged over the one before. */
  state: Record<string, unknown>;
}

export interface PullRequestFacts {
  number: number;
  headSha: string;
  headRef?: string;
  baseRef?: string;
  author?: string;
}

export function fakeGitHub(opts: { token?: string } = {}) {
  const token = opts.token ?? "ghs_fake_installation_token";
  const requests: ApiRequest[] = [];
  const unexpected: string[] = [];
  const deployments: FakeDeployment[] = [];
  const checkRuns: FakeCheckRun[] = [];
  const comments = new Map<
    number,
    { id: number; repo: string; issue: number; body: string; login: string; minimized?: boolean }
  >();
  const pulls = new Map<string, PullRequestFacts>();
  const permissions = new Map<string, string>();
  const reviews = new Map<string, unknown[]>();
  /** Repositories the App is installed on (for lookups by name: triggers, the CLI's runs). */
  const repositories = new Map<
    string,
    { cloneUrl: string; defaultBranch: string; installationId: number; bareDir?: string }
  >();
  let nextId = 1000;

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };

  async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  }

  /** One route: method, a path pattern with `:name` parts, and what to answer. */
  type Handler = (p: Record<string, string>, body: Record<string, unknown> | undefined) => [number, unknown];
  const routes: [string, RegExp, string[], Handler][] = [];
  const on = (method: string, pattern: string, handler: Handler) => {
    const names: string[] = [];
    const re = new RegExp(
      `^${pattern.replace(/:([a-z_]+)/g, (_m, n: string) => {
        names.push(n);
        return "([^/]+)";
      })}$`,
    );
    routes.push([method, re, names, handler]);
  };
  const repoOf = (p: Record<string, string>) => `${p.owner}/${p.repo}`;

  on("POST", "/app/installations/:id/access_tokens", () => [
    201,
    { token, expires_at: new Date(Date.now() + 3600_000).toISOString(), permissions: {} },
  ]);
  on("GET", "/app", () => [200, { slug: "stackpilot", name: "Stackpilot" }]);
  // A branch's tip, read from the served repository itself (given as setRepository's bareDir).
  const branchTip = (p: Record<string, string>, ref: string): [number, unknown] => {
    const r = repositories.get(repoOf(p));
    if (!r?.bareDir || !ref.startsWith("heads/")) return [404, { message: "Not Found" }];
    try {
      const sha = execFileSync("git", ["rev-parse", "--verify", "--quiet", `refs/${ref}^{commit}`], {
        cwd: r.bareDir,
        encoding: "utf8",
      }).trim();
      return [200, { ref: `refs/${ref}`, object: { type: "commit", sha } }];
    } catch {
      return [404, { message: "Not Found" }];
    }
  };
  on("GET", "/repos/:owner/:repo/git/ref/:ref", (p) => branchTip(p, p.ref as string));
  on("GET", "/repos/:owner/:repo/git/ref/heads/:branch", (p) => branchTip(p, `heads/${p.branch}`));
  on("GET", "/repos/:owner/:repo/installation", (p) => {
    const r = repositories.get(repoOf(p));
    return r ? [200, { id: r.installationId, account: { login: p.owner } }] : [404, { message: "Not Found" }];
  });
  on("GET", "/repos/:owner/:repo", (p) => {
    const r = repositories.get(repoOf(p));
    if (!r) return [404, { message: "Not Found" }];
    return [
      200,
      {
        name: p.repo,
        full_name: repoOf(p),
        owner: { login: p.owner },
        clone_url: r.cloneUrl,
        default_branch: r.defaultBranch,
      },
    ];
  });
  on("POST", "/repos/:owner/:repo/check-runs", (p, body) => {
    const run: FakeCheckRun = { id: nextId++, repo: repoOf(p), bodies: [body ?? {}], state: { ...body } };
    checkRuns.push(run);
    return [201, { id: run.id, html_url: `http://github.invalid/${repoOf(p)}/runs/${run.id}` }];
  });
  on("PATCH", "/repos/:owner/:repo/check-runs/:id", (p, body) => {
    const run = checkRuns.find((r) => r.id === Number(p.id));
    if (!run) return [404, { message: "Not Found" }];
    run.bodies.push(body ?? {});
    Object.assign(run.state, body);
    return [200, { id: run.id }];
  });
  on("GET", "/repos/:owner/:repo/commits/:sha/check-runs", (p) => {
    const runs = checkRuns
      .filter((r) => r.repo === repoOf(p) && r.state.head_sha === p.sha)
      .map((r) => ({ id: r.id, ...r.state }));
    return [200, { total_count: runs.length, check_runs: runs }];
  });
  on("POST", "/repos/:owner/:repo/deployments", (p, body) => {
    const d: FakeDeployment = { id: nextId++, repo: repoOf(p), body: body ?? {}, statuses: [] };
    deployments.push(d);
    return [201, { id: d.id }];
  });
  on("POST", "/repos/:owner/:repo/deployments/:id/statuses", (p, body) => {
    const d = deployments.find((x) => x.id === Number(p.id));
    if (!d) return [404, { message: "Not Found" }];
    d.statuses.push(body ?? {});
    return [201, { id: nextId++ }];
  });
  on("GET", "/repos/:owner/:repo/commits/:sha/pulls", () => [200, []]);
  on("GET", "/repos/:owner/:repo/pulls/:n", (p) => {
    const pr = pulls.get(`${repoOf(p)}#${p.n}`);
    if (!pr) return [404, { message: "Not Found" }];
    const repo = { full_name: repoOf(p) };
    return [
      200,
      {
        number: pr.number,
        user: { login: pr.author ?? "octocat" },
        head: { sha: pr.headSha, ref: pr.headRef ?? `pr-${pr.number}`, repo },
        base: { ref: pr.baseRef ?? "main", repo },
      },
    ];
  });
  on("GET", "/repos/:owner/:repo/collaborators/:user/permission", (p) => {
    const permission = permissions.get(`${repoOf(p)}:${p.user}`) ?? "none";
    return [200, { permission, role_name: permission, user: { login: p.user } }];
  });
  on("GET", "/repos/:owner/:repo/pulls/:n/reviews", (p) => [200, reviews.get(`${repoOf(p)}#${p.n}`) ?? []]);
  on("POST", "/repos/:owner/:repo/issues/comments/:id/reactions", () => [201, { id: nextId++ }]);
  on("GET", "/repos/:owner/:repo/issues/:n/comments", (p) => [
    200,
    [...comments.values()]
      .filter((c) => c.repo === repoOf(p) && c.issue === Number(p.n))
      .map((c) => ({ id: c.id, body: c.body, user: { login: c.login, type: "Bot" } })),
  ]);
  on("POST", "/repos/:owner/:repo/issues/:n/comments", (p, body) => {
    const c = {
      id: nextId++,
      repo: repoOf(p),
      issue: Number(p.n),
      body: String(body?.body ?? ""),
      login: "stackpilot[bot]",
    };
    comments.set(c.id, c);
    return [
      201,
      {
        id: c.id,
        body: c.body,
        node_id: `IC_${c.id}`,
        html_url: `http://github.invalid/${c.repo}/pull/${c.issue}#issuecomment-${c.id}`,
      },
    ];
  });
  // GraphQL, as far as collapsing earlier replies goes (api/olderReplies.ts): a PR's last comments,
  // and minimizeComment. The App is the viewer: the comments it wrote are the bot's.
  on("POST", "/api/graphql", (_p, body) => {
    const query = String(body?.query ?? "");
    const vars = (body?.variables ?? {}) as Record<string, unknown>;
    if (query.includes("minimizeComment")) {
      const c = comments.get(Number(String(vars.id).replace(/^IC_/, "")));
      if (!c) return [200, { errors: [{ message: "Could not resolve to a node" }] }];
      c.minimized = true;
      return [200, { data: { minimizeComment: { minimizedComment: { isMinimized: true } } } }];
    }
    const repo = `${vars.owner}/${vars.repo}`;
    const nodes = [...comments.values()]
      .filter((c) => c.repo === repo && c.issue === Number(vars.number))
      .slice(-Number(vars.last ?? 50))
      .map((c) => ({
        id: `IC_${c.id}`,
        isMinimized: c.minimized === true,
        viewerDidAuthor: c.login === "stackpilot[bot]",
        body: c.body,
      }));
    return [200, { data: { repository: { issueOrPullRequest: { comments: { nodes } } } } }];
  });
  on("PATCH", "/repos/:owner/:repo/issues/comments/:id", (_p, body) => {
    const c = comments.get(Number(_p.id));
    if (!c) return [404, { message: "Not Found" }];
    c.body = String(body?.body ?? c.body);
    return [
      200,
      {
        id: c.id,
        body: c.body,
        html_url: `http://github.invalid/${c.repo}/pull/${c.issue}#issuecomment-${c.id}`,
      },
    ];
  });
  on("DELETE", "/repos/:owner/:repo/issues/comments/:id", (p) => [
    comments.delete(Number(p.id)) ? 204 : 404,
    {},
  ]);

  return {
    token,
    requests,
    /** Requests no route answered: a test should expect none. */
    unexpected,
    deployments,
    checkRuns,
    comments,
    setPullRequest(repo: string, pr: PullRequestFacts) {
      pulls.set(`${repo}#${pr.number}`, pr);
    },
    setPermission(repo: string, user: string, permission: string) {
      permissions.set(`${repo}:${user}`, permission);
    },
    setReviews(repo: string, pr: number, list: unknown[]) {
      reviews.set(`${repo}#${pr}`, list);
    },
    /** Installs the App on a repository served at `cloneUrl`. */
    setRepository(
      repo: string,
      r: { cloneUrl: string; defaultBranch?: string; installationId?: number; bareDir?: string },
    ) {
      repositories.set(repo, { defaultBranch: "main", installationId: 42, ...r });
    },
    /** The request handler for `startGitHttpServer({ api })`. */
    async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const url = new URL(req.url ?? "/", "http://localhost");
      const path = url.pathname.replace(/^\/api\/v3/, "");
      const body = await readJson(req).catch(() => undefined);
      const method = req.method ?? "GET";
      requests.push({ method, path, body, at: Date.now() });
      for (const [m, re, names, handler] of routes) {
        if (m !== method) continue;
        const match = re.exec(path);
        if (!match) continue;
        const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(match[i + 1] ?? "")]));
        const [status, answer] = handler(params, body);
        if (status === 204) {
          res.writeHead(204).end();
          return;
        }
        json(res, status, answer);
        return;
      }
      unexpected.push(`${method} ${path}`);
      json(res, 404, { message: "Not Found (not simulated)" });
    },
  };
}

export type FakeGitHub = ReturnType<typeof fakeGitHub>;
