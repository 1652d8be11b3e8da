/**
 * Web UI sessions (src/ui/auth). A row is found by the SHA-256 of the cookie's random id, which
 * is never stored itself; a GitHub user's session keeps the repositories GitHub said the user
 * can read and when it said so (the UI asks again when that is old), never the user's token.
 */
import { type Queryable, type Row, toDate, toDateOrNull } from "./db.ts";

export type SessionKind = "github" | "token";

/** A repository a signed-in user can read, and the App installation that has it. */
export interface ReadableRepo {
  repo: string;
  installationId: number;
}

export interface UiSession {
  idHash: string;
  kind: SessionKind;
  login: string;
  repos: ReadableRepo[] | null;
  reposCheckedAt: Date | null;
  createdAt: Date;
  expiresAt: Date;
}

export interface NewUiSession {
  idHash: string;
  kind: SessionKind;
  login: string;
  repos?: ReadableRepo[] | null;
  ttlMs: number;
}

export async function createSession(db: Queryable, input: NewUiSession): Promise<void> {
  await db.query(
    `INSERT INTO ui_sessions (id_hash, kind, login, repos, repos_checked_at, expires_at)
     VALUES ($1, $2, $3, $4::text::jsonb, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END,
             now() + $5 * interval '1 millisecond')`,
    [input.idHash, input.kind, input.login, input.repos ? JSON.stringify(input.repos) : null, input.ttlMs],
  );
}

/** The session, unless it expired (an expired one is removed on the way). */
export async function getSession(db: Queryable, idHash: string): Promise<UiSession | undefined> {
  const [row] = await db.query(
    "SELECT *, expires_at <= now() AS expired FROM ui_sessions WHERE id_hash = $1",
    [idHash],
  );
  if (!row) return undefined;
  if (row.expired === true) {
    await deleteSession(db, idHash);
    return undefined;
  }
  return toSession(row);
}

export async function setSessionRepos(db: Queryable, idHash: string, repos: ReadableRepo[]): Promise<void> {
  await db.query(
    "UPDATE ui_sessions SET repos = $2::text::jsonb, repos_checked_at = now() WHERE id_hash = $1",
    [idHash, JSON.stringify(repos)],
  );
}

export async function deleteSession(db: Queryable, idHash: string): Promise<void> {
  await db.query("DELETE FROM ui_sessions WHERE id_hash = $1", [idHash]);
}

/** Removes expired sessions; returns how many. */
export async function pruneSessions(db: Queryable): Promise<number> {
  const rows = await db.query("DELETE FROM ui_sessions WHERE expires_at <= now() RETURNING id_hash");
  return rows.length;
}

function toSession(row: Row): UiSession {
  return {
    idHash: String(row.id_hash),
    kind: row.kind as SessionKind,
    login: String(row.login),
    repos: Array.isArray(row.repos)
      ? (row.repos as ReadableRepo[]).map((r) => ({
          repo: String(r.repo),
          installationId: Number(r.installationId),
        }))
      : null,
    reposCheckedAt: toDateOrNull(row.repos_checked_at),
    createdAt: toDate(row.created_at),
    expiresAt: toDate(row.expires_at),
  };
}
