/**
 * Image builds: each attempt with its log, and the lookup that lets unchanged build inputs reuse
 * the image an earlier build pushed.
 */
import type { BuildRecord } from "../plan/images.ts";
import { type Queryable, type Row, toDate, toDateOrNull, toNumber, toStringOrNull } from "./db.ts";
import { boundText } from "./logBounds.ts";

/** Build logs are kept whole up to this size (head and tail beyond it). */
export const MAX_BUILD_LOG_BYTES = 256 * 1024;

export interface NewBuild {
  repo: string;
  stack: string;
  service: string;
  registry: string;
  builder: string;
  fingerprint: string;
  image: string;
  commit: string;
  actor: string;
}

export interface Build extends NewBuild {
  id: number;
  status: "running" | "succeeded" | "failed";
  error: string | null;
  log: string;
  startedAt: Date;
  finishedAt: Date | null;
}

export async function startBuild(db: Queryable, b: NewBuild): Promise<number> {
  const rows = await db.query(
    `INSERT INTO builds (repo, stack, service, registry, builder, fingerprint, image, commit_sha, actor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [b.repo, b.stack, b.service, b.registry, b.builder, b.fingerprint, b.image, b.commit, b.actor],
  );
  return toNumber(rows[0]?.id);
}

export async function finishBuild(
  db: Queryable,
  id: number,
  result: { status: "succeeded" | "failed"; error?: string | null; log: string },
): Promise<void> {
  await db.query(
    "UPDATE builds SET status = $2, error = $3, log = $4, finished_at = now() WHERE id = $1 AND status = 'running'",
    [id, result.status, result.error ?? null, boundText(result.log, MAX_BUILD_LOG_BYTES).text],
  );
}

/** The latest successful build of every (stack, service, registry, fingerprint) of a repository. */
export async function listReusableBuilds(db: Queryable, repo: string): Promise<BuildRecord[]> {
  const rows = await db.query(
    `SELECT DISTINCT ON (stack, service, registry, fingerprint) stack, service, registry, fingerprint, image, commit_sha
       FROM builds WHERE repo = $1 AND status = 'succeeded'
      ORDER BY stack, service, registry, fingerprint, id DESC`,
    [repo],
  );
  return rows.map((r) => ({
    stack: String(r.stack),
    service: String(r.service),
    registry: String(r.registry),
    fingerprint: String(r.fingerprint),
    image: String(r.image),
    commit: String(r.commit_sha),
  }));
}

export async function listBuilds(db: Queryable, repo: string, limit = 50): Promise<Build[]> {
  const rows = await db.query("SELECT * FROM builds WHERE repo = $1 ORDER BY id DESC LIMIT $2", [
    repo,
    limit,
  ]);
  return rows.map(toBuild);
}

function toBuild(r: Row): Build {
  return {
    id: toNumber(r.id),
    repo: String(r.repo),
    stack: String(r.stack),
    service: String(r.service),
    registry: String(r.registry),
    builder: String(r.builder),
    fingerprint: String(r.fingerprint),
    image: String(r.image),
    commit: String(r.commit_sha),
    actor: String(r.actor),
    status: String(r.status) as Build["status"],
    error: toStringOrNull(r.error),
    log: String(r.log),
    startedAt: toDate(r.started_at),
    finishedAt: toDateOrNull(r.finished_at),
  };
}
