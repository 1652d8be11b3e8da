/**
 * Sources in the state: the index of which repositories use which source repository (a push to a
 * source plans its users: github/jobs/push.ts), and the source commits each deployment used.
 */
import { type Queryable, toNumber } from "./db.ts";

/** A repository as the App acts on it (github/events.ts RepoRef, less what follows from these). */
export interface SourceUser {
  repo: string;
  installationId: number;
  cloneUrl: string;
  defaultBranch: string;
}

/** One source of a repository, as its default branch's last plan read it. */
export interface SourceUse {
  name: string;
  /** owner/name of the source repository. */
  sourceRepo: string;
  /** As configured; undefined: the source's default branch. */
  ref?: string | undefined;
  commit: string;
}

/** A repository using a source, found from the source's side. */
export interface SourceDependent extends SourceUser {
  name: string;
  ref: string | null;
}

/** The repository's sources are exactly `uses` now (a source dropped from its config is forgotten). */
export async function replaceSourceUses(
  db: { transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> },
  user: SourceUser,
  uses: readonly SourceUse[],
): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("DELETE FROM source_uses WHERE repo = $1 AND NOT (name = ANY($2::text[]))", [
      user.repo,
      uses.map((u) => u.name),
    ]);
    for (const u of uses)
      await tx.query(
        `INSERT INTO source_uses (repo, name, source_repo, ref, commit_sha, installation_id, clone_url, default_branch)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (repo, name) DO UPDATE
           SET source_repo = excluded.source_repo, ref = excluded.ref, commit_sha = excluded.commit_sha,
               installation_id = excluded.installation_id, clone_url = excluded.clone_url,
               default_branch = excluded.default_branch, updated_at = now()`,
        [
          user.repo,
          u.name,
          u.sourceRepo.toLowerCase(),
          u.ref ?? null,
          u.commit,
          user.installationId,
          user.cloneUrl,
          user.defaultBranch,
        ],
      );
  });
}

/**
 * Repositories whose sources follow `branch` of `sourceRepo`: those naming that branch, and those
 * naming no ref when it is the source's default branch.
 */
export async function sourceDependents(
  db: Queryable,
  sourceRepo: string,
  branch: string,
  isDefaultBranch: boolean,
): Promise<SourceDependent[]> {
  const rows = await db.query(
    `SELECT repo, name, ref, installation_id, clone_url, default_branch FROM source_uses
     WHERE source_repo = $1 AND (ref = $2 OR (ref IS NULL AND $3::boolean))
     ORDER BY repo, name`,
    [sourceRepo.toLowerCase(), branch, isDefaultBranch],
  );
  return rows.map((r) => ({
    repo: String(r.repo),
    name: String(r.name),
    ref: r.ref === null ? null : String(r.ref),
    installationId: toNumber(r.installation_id),
    cloneUrl: String(r.clone_url),
    defaultBranch: String(r.default_branch),
  }));
}

/** Source name -> the commit the repository's last default-branch plan read. */
export async function sourceCommits(db: Queryable, repo: string): Promise<Map<string, string>> {
  const rows = await db.query("SELECT name, commit_sha FROM source_uses WHERE repo = $1", [repo]);
  return new Map(rows.map((r) => [String(r.name), String(r.commit_sha)]));
}

export interface DeploymentSource {
  name: string;
  repository: string;
  commit: string;
}

export async function recordDeploymentSources(
  db: Queryable,
  deploymentId: number,
  sources: readonly DeploymentSource[],
): Promise<void> {
  for (const s of sources)
    await db.query(
      `INSERT INTO deployment_sources (deployment_id, name, repository, commit_sha) VALUES ($1, $2, $3, $4)
       ON CONFLICT (deployment_id, name) DO NOTHING`,
      [deploymentId, s.name, s.repository, s.commit],
    );
}

export async function deploymentSources(db: Queryable, deploymentId: number): Promise<DeploymentSource[]> {
  const rows = await db.query(
    "SELECT name, repository, commit_sha FROM deployment_sources WHERE deployment_id = $1 ORDER BY name",
    [deploymentId],
  );
  return rows.map((r) => ({
    name: String(r.name),
    repository: String(r.repository),
    commit: String(r.commit_sha),
  }));
}
