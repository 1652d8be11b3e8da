/**
 * The stacks x hosts matrix as data for its template: per repository and environment, a row per
 * stack and a column per host, each cell what is deployed there (commit, age), how the last
 * deployment went, drift when known, the lock holder and the rollback pin. Pure.
 *
 * Neighbouring cells of a row that read the same (the usual case: a stack at one commit on all
 * its hosts) are one cell spanning those columns: the page stays small for 1,000 stacks. A
 * successful last deployment is therefore not linked from its cell; the stack's name links to its
 * deployments, every host's.
 */

import type { DriftState } from "../../state/drift.ts";
import type { LockInfo } from "../../state/locks.ts";
import type { TargetOverview } from "../../state/overview.ts";
import { compileGlob } from "../../util/glob.ts";
import { age, commitUrl, deployedCommitPath, deploymentPath, FAILED, resultOf, short } from "./format.ts";

export interface RepoFacts {
  repo: string;
  targets: readonly TargetOverview[];
  /** Held deploy locks of this repository by `stack\0host`. */
  locks: ReadonlyMap<string, LockInfo>;
}

export interface CellView {
  span: number;
  /** Nothing recorded for this stack on this host. */
  empty: boolean;
  /**
   * `url`: where the commit link goes (a redirect per deployment, see commitLink); `sha`, the full
   * commit: neighbours at one commit are one cell whichever deployment put it on each.
   */
  commit?: { short: string; sha: string; url: string | undefined };
  age?: string;
  /** The last deployment's result; linked to it unless it is plain success (those read alike). */
  result?: { word: string; href: string | undefined };
  tone: string;
  /** The last drift check in words (`in sync`, `drifted`, `unreachable`) and, if any, what it found. */
  drift?: { word: string; details: string; tone: string };
  lock?: string;
  pinned: boolean;
}

export interface EnvironmentView {
  name: string;
  hosts: string[];
  rows: { stack: string; cells: CellView[] }[];
}

export interface RepoView {
  repo: string;
  environments: EnvironmentView[];
}

export interface MatrixView {
  repos: RepoView[];
  counts: { deployed: number; failed: number; drifted: number | "unknown"; locked: number };
}

export const targetKey = (stack: string, host: string) => `${stack}\0${host}`;

export function matrixModel(
  facts: readonly RepoFacts[],
  opts: { stack?: string | undefined; host?: string | undefined; origin: string; now: number },
): MatrixView {
  const stackOk = opts.stack ? compileGlob(opts.stack) : () => true;
  const hostOk = opts.host ? compileGlob(opts.host) : () => true;
  const counts = { deployed: 0, failed: 0, drifted: 0, locked: 0 };
  let driftKnown = false;
  const repos: RepoView[] = [];
  for (const f of facts) {
    const byEnv = new Map<string, TargetOverview[]>();
    for (const t of f.targets) {
      if (!stackOk(t.stack) || !hostOk(t.host)) continue;
      const env = t.environment ?? "(environment not recorded)";
      const list = byEnv.get(env);
      if (list) list.push(t);
      else byEnv.set(env, [t]);
    }
    const environments: EnvironmentView[] = [];
    for (const [name, targets] of [...byEnv].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const hosts = [...new Set(targets.map((t) => t.host))].sort();
      const stacks = new Map<string, Map<string, TargetOverview>>();
      for (const t of targets) {
        const row = stacks.get(t.stack) ?? new Map<string, TargetOverview>();
        row.set(t.host, t);
        stacks.set(t.stack, row);
      }
      const rows = [...stacks.keys()].sort().map((stack) => {
        const row = stacks.get(stack) as Map<string, TargetOverview>;
        const cells = hosts.map((host) => {
          const t = row.get(host);
          if (!t) return emptyCell();
          const key = targetKey(t.stack, t.host);
          const cell = cellOf(f.repo, t, f.locks.get(key), opts);
          if (cell.commit) counts.deployed++;
          if (t.last && FAILED.has(t.last.status)) counts.failed++;
          if (cell.lock) counts.locked++;
          if (t.drift) driftKnown = true;
          if (t.drift?.state === "drifted") counts.drifted++;
          return cell;
        });
        return { stack, cells: mergeSame(cells) };
      });
      environments.push({ name, hosts, rows });
    }
    repos.push({ repo: f.repo, environments });
  }
  return { repos, counts: { ...counts, drifted: driftKnown ? counts.drifted : "unknown" } };
}

function emptyCell(): CellView {
  return { span: 1, empty: true, tone: "", pinned: false };
}

function cellOf(
  repo: string,
  t: TargetOverview,
  lock: LockInfo | undefined,
  opts: { origin: string; now: number },
): CellView {
  const result = t.last ? resultOf(t.last.status) : undefined;
  return {
    span: 1,
    empty: false,
    ...(t.deployed
      ? {
          commit: {
            short: short(t.deployed.commit),
            sha: t.deployed.commit,
            url: commitLink(repo, t.deployed, opts.origin),
          },
          age: age(t.deployed.deployedAt, opts.now),
        }
      : {}),
    ...(t.last && result
      ? { result: { word: result.word, href: result.tone === "ok" ? undefined : deploymentPath(t.last.id) } }
      : {}),
    tone: result?.tone ?? "",
    ...(t.drift ? { drift: driftOf(t.drift) } : {}),
    ...(lock && !lock.expired ? { lock: lock.holder } : {}),
    pinned: t.deployed?.pinned ?? false,
  };
}

/** The GitHub commit, through the short local redirect when the deployment that put it there is known. */
function commitLink(
  repo: string,
  d: NonNullable<TargetOverview["deployed"]>,
  origin: string,
): string | undefined {
  const url = commitUrl(origin, repo, d.commit);
  return url && d.deploymentId !== null ? deployedCommitPath(d.deploymentId) : url;
}

const DRIFT_WORDS: Record<DriftState, { word: string; tone: string }> = {
  in_sync: { word: "in sync", tone: "" },
  drifted: { word: "drifted", tone: "bad" },
  unreachable: { word: "unreachable", tone: "run" },
};
const DRIFT_DETAILS = 3;
const DRIFT_DETAIL_CHARS = 120;

/** A drift check in words, with the first few things it found (bounded: a cell, not a report). */
export function driftOf(d: NonNullable<TargetOverview["drift"]>): NonNullable<CellView["drift"]> {
  const shown = d.details
    .slice(0, DRIFT_DETAILS)
    .map((x) => (x.length > DRIFT_DETAIL_CHARS ? `${x.slice(0, DRIFT_DETAIL_CHARS - 1)}…` : x));
  const more = d.details.length - shown.length;
  const details = shown.join("; ") + (more > 0 ? ` (and ${more} more)` : "");
  return {
    ...(DRIFT_WORDS[d.state] ?? { word: d.state, tone: "" }),
    details: d.state === "in_sync" ? "" : details,
  };
}

/** Neighbours that would render the same become one cell with a colspan. */
function mergeSame(cells: CellView[]): CellView[] {
  const out: CellView[] = [];
  let lastKey: string | undefined;
  for (const c of cells) {
    const key = sameKey(c);
    const prev = out[out.length - 1];
    if (prev && key === lastKey) prev.span++;
    else {
      out.push({ ...c });
      lastKey = key;
    }
  }
  return out;
}

/**
 * Everything a cell renders, span aside, as one string: a flat array's JSON, cheaper than the
 * whole cell's (copied, nested) for the 10,000 cells of a large matrix.
 */
function sameKey(c: CellView): string {
  return JSON.stringify([
    c.empty,
    c.commit?.sha,
    c.commit?.url === undefined,
    c.age,
    c.result?.word,
    c.result?.href,
    c.tone,
    c.drift?.word,
    c.drift?.details,
    c.lock,
    c.pinned,
  ]);
}
