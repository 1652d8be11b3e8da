/** Who is asking: a GitHub user (through a session) or a holder of the static token. */

export interface SessionRef {
  idHash: string;
  /** The CSRF token forms of this session carry (derived from the session's id, never stored). */
  csrf: string;
}

export type Principal =
  | {
      kind: "github";
      login: string;
      session: SessionRef;
      /** Lower-cased `owner/name` -> the App installation that has it, as GitHub said. */
      readable: ReadonlyMap<string, { repo: string; installationId: number }>;
    }
  | {
      kind: "token";
      login: string;
      /** Absent when the token came as `Authorization: Bearer` (no cookie, no CSRF to check). */
      session?: SessionRef;
    };

/** A token holder reads every repository; a GitHub user those GitHub lists for them. */
export function canRead(p: Principal, repo: string): boolean {
  return p.kind === "token" || p.readable.has(repo.toLowerCase());
}

/** The CSRF token forms must carry; undefined for bearer requests, which need none. */
export function csrfOf(p: Principal): string | undefined {
  return p.session?.csrf;
}
