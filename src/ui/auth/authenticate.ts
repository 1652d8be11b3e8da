/**
 * Who a request comes from: `Authorization: Bearer <STACKPILOT_UI_TOKEN>`, or a session cookie.
 * A GitHub user's readable repositories are GitHub's answer of at most `accessTtlMs` ago; older,
 * they are asked again with the user's token, which lives in this process's memory only. A
 * process without it (restarted, another replica) sends the user through GitHub's sign-in
 * again, which returns at once for a user who already authorized the App.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { ReadableRepo } from "../../state/sessions.ts";
import type { Store } from "../../state/store.ts";
import { HttpError } from "../http.ts";
import type { UiSettings } from "../settings.ts";
import { readableRepos } from "./githubUser.ts";
import type { Principal } from "./principal.ts";
import { readCookie, sameSecret, secureCookies, sessionRef } from "./sessions.ts";

/** GitHub users' tokens by session, in memory only, each until it or its session expires. */
export class UserTokens {
  readonly #tokens = new Map<string, { token: string; until: number }>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  set(idHash: string, token: string, until: number): void {
    this.#tokens.delete(idHash);
    this.#tokens.set(idHash, { token, until });
    // Oldest first out: a user whose token was dropped signs in again (silently, at GitHub).
    while (this.#tokens.size > this.#max) this.#tokens.delete(this.#tokens.keys().next().value as string);
  }

  get(idHash: string): string | undefined {
    const held = this.#tokens.get(idHash);
    if (held && held.until > Date.now()) return held.token;
    this.#tokens.delete(idHash);
    return undefined;
  }

  delete(idHash: string): void {
    this.#tokens.delete(idHash);
  }
}

export interface AuthDeps {
  store: Store;
  settings: UiSettings;
  tokens: UserTokens;
}

/** What a token session records as its login: changing or removing the token ends such sessions. */
export function tokenLogin(token: string): string {
  return `token:${createHash("sha256").update(token).digest("hex").slice(0, 12)}`;
}

/** The principal, `reauth` when a GitHub user must pass GitHub's sign-in again, or undefined. */
export async function authenticate(
  req: IncomingMessage,
  deps: AuthDeps,
  refreshing: Map<string, Promise<ReadableRepo[] | "reauth">>,
): Promise<Principal | "reauth" | undefined> {
  const { settings, store } = deps;
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const bearer = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization)?.[1];
    return settings.token && sameSecret(bearer, settings.token.value)
      ? { kind: "token", login: "token" }
      : undefined;
  }
  const id = readCookie(req, "session", secureCookies(req, settings));
  if (!id) return undefined;
  const ref = sessionRef(id);
  const session = await store.getSession(ref.idHash);
  if (!session) return undefined;
  if (session.kind === "token") {
    if (!settings.token || session.login !== tokenLogin(settings.token.value)) return undefined;
    return { kind: "token", login: "token", session: ref };
  }
  if (!settings.oauth) return undefined;
  let repos = session.repos;
  const fresh =
    session.reposCheckedAt && Date.now() - session.reposCheckedAt.getTime() < settings.accessTtlMs;
  if (!repos || !fresh) {
    // One question to GitHub per session at a time, however many requests wait for it.
    let asking = refreshing.get(ref.idHash);
    if (!asking) {
      asking = askGitHub(deps, ref.idHash).finally(() => refreshing.delete(ref.idHash));
      refreshing.set(ref.idHash, asking);
    }
    const answer = await asking;
    if (answer === "reauth") return "reauth";
    repos = answer;
  }
  return {
    kind: "github",
    login: session.login,
    session: ref,
    readable: new Map(repos.map((r) => [r.repo.toLowerCase(), r])),
  };
}

async function askGitHub(deps: AuthDeps, idHash: string): Promise<ReadableRepo[] | "reauth"> {
  const token = deps.tokens.get(idHash);
  if (!token) return "reauth";
  let repos: ReadableRepo[];
  try {
    repos = await readableRepos(deps.settings.github, token);
  } catch (err) {
    if ((err as { status?: number }).status === 401) {
      deps.tokens.delete(idHash);
      return "reauth";
    }
    // Fail closed: without GitHub's answer nobody sees a repository through GitHub sign-in.
    throw new HttpError(
      503,
      `GitHub did not say which repositories you can read (${(err as Error).message}); try again shortly`,
    );
  }
  await deps.store.setSessionRepos(idHash, repos);
  return repos;
}
