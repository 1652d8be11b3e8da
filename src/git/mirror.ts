/**
 * One bare mirror per repository, shared by every pull request and stack:
 * `<dir>/<host>/<owner>/<name>.git`, with `dir` normally `<dataDir>/mirrors`.
 *
 * - First use clones (no filter: the planner reads trees and blobs), later uses `git fetch --prune`
 *   branches, tags and `refs/pull/* /head`, plus any commit id or other ref a caller asks for
 *   (mirrorSync.ts).
 * - Only from the allowed origin (the configured GitHub): any other clone URL is refused before a
 *   token is attached or a connection made (mirrorTarget.ts).
 * - The installation token reaches git through the environment only (`GIT_CONFIG_*` setting an
 *   `http.<origin>.extraHeader`), never argv or `.git/config`, and is redacted from every error
 *   and log line (secrets.ts, mirrorGit.ts).
 * - Callers of one repository share fetches: whoever arrives while a fetch runs waits for it, and
 *   one more fetch follows for callers whose refs it did not cover (mirrorRounds.ts). Different
 *   repositories fetch in parallel, up to `concurrency`. A lock file per mirror (pid inside; a dead
 *   pid's is taken over) keeps processes that share the directory from fetching the same mirror at
 *   once.
 * - Over `maxBytes`, the least recently used mirrors that nobody is using are deleted (mirrorBudget.ts).
 */
import { Limiter } from "../util/limiter.ts";
import { LOCAL_TIMEOUT_MS, NETWORK_TIMEOUT_MS } from "./gitProcess.ts";
import { MirrorBudget, type MirrorInfo } from "./mirrorBudget.ts";
import { touch } from "./mirrorDisk.ts";
import { type MirrorLogLevel, mirrorGit } from "./mirrorGit.ts";
import { normalizeRefs } from "./mirrorRefs.ts";
import { dropIfIdle, FetchRounds, repoState } from "./mirrorRounds.ts";
import { MirrorSync } from "./mirrorSync.ts";
import { type MirrorSource, originOf, type Target, targetOf } from "./mirrorTarget.ts";
import { GitRepo } from "./repo.ts";
import { redact } from "./secrets.ts";

export type { MirrorInfo } from "./mirrorBudget.ts";
export { MirrorError, type MirrorErrorKind } from "./mirrorErrors.ts";
export type { MirrorLogLevel } from "./mirrorGit.ts";
export { MIRROR_REFSPECS } from "./mirrorRefs.ts";
export type { MirrorSource } from "./mirrorTarget.ts";

export interface EnsureOptions {
  /** Installation token (`x-access-token`); omitted for public repositories. */
  token?: string;
  /**
   * What the caller needs: full commit ids (a PR head SHA) and/or full ref names
   * (`refs/pull/1/head`, `refs/heads/main`). Ids already present need no fetch at all.
   */
  refs?: readonly string[];
}

export interface MirrorCacheOptions {
  /** The cache directory, normally `<dataDir>/mirrors`: mirrors live in `<dir>/<host>/<owner>/<name>.git`. */
  dir: string;
  /**
   * The only origin clone URLs may name (`https://github.com`, or the GitHub Enterprise host:
   * github/githubHost.ts): the token goes nowhere else.
   */
  allowedOrigin: string;
  /** Disk budget for all mirrors together; unlimited by default. */
  maxBytes?: number;
  /** Repositories fetched at once. Default 4. */
  concurrency?: number;
  /** Limit for each clone, fetch and gc. Default 10 minutes. */
  timeoutMs?: number;
  /** Limit for each other git process (local reads and writes). Default 2 minutes. */
  localTimeoutMs?: number;
  /**
   * A mirror used this recently is not evicted, even when no `use()` holds it: covers callers of
   * `ensure()` still reading, in this process or another. Default 1 minute.
   */
  minIdleMs?: number;
  /** How long to wait for another process's fetch of the same mirror. Default 3 × timeoutMs. */
  lockWaitMs?: number;
  /** A lock file its holder has not refreshed for this long is taken over. Default 1 minute. */
  lockStaleMs?: number;
  /** The git executable. Default `git` from PATH. */
  git?: string;
  /** Environment for git (default process.env); auth and prompt settings are added on top. */
  env?: NodeJS.ProcessEnv;
  /** Log lines, tokens already redacted. */
  log?: (level: MirrorLogLevel, message: string) => void;
}

export class MirrorCache {
  readonly root: string;
  readonly #allowedOrigin: string;
  readonly #limiter: Limiter;
  readonly #sync: MirrorSync;
  readonly #rounds: FetchRounds;
  readonly #budget: MirrorBudget;
  readonly #log: (level: MirrorLogLevel, message: string) => void;
  #budgetTail: Promise<unknown> = Promise.resolve();

  constructor(opts: MirrorCacheOptions) {
    this.root = opts.dir;
    this.#allowedOrigin = originOf(opts.allowedOrigin);
    const timeoutMs = opts.timeoutMs ?? NETWORK_TIMEOUT_MS;
    const log = opts.log ?? (() => {});
    this.#log = log;
    this.#limiter = new Limiter(opts.concurrency ?? 4);
    const git = mirrorGit({
      root: this.root,
      bin: opts.git ?? "git",
      env: opts.env ?? process.env,
      networkTimeoutMs: timeoutMs,
      localTimeoutMs: opts.localTimeoutMs ?? LOCAL_TIMEOUT_MS,
      log,
    });
    const lockStaleMs = opts.lockStaleMs ?? 60_000;
    this.#sync = new MirrorSync(git, { lockWaitMs: opts.lockWaitMs ?? 3 * timeoutMs, lockStaleMs, log });
    this.#rounds = new FetchRounds(
      (target, token, extras) => this.#fetch(target, token, extras),
      (dir, refs) => this.#sync.missingRefs(dir, refs),
    );
    this.#budget = new MirrorBudget({
      root: this.root,
      maxBytes: opts.maxBytes ?? Number.POSITIVE_INFINITY,
      minIdleMs: opts.minIdleMs ?? 60_000,
      lockStaleMs,
      log,
    });
  }

  /** Where a repository's mirror lives (whether or not it exists yet). */
  dirFor(source: MirrorSource): string {
    return this.#target(source).dir;
  }

  /**
   * The repository's mirror, up to date: cloned on first use, else fetched (skipped when every
   * requested ref is a commit id already present). The mirror may be evicted once this returns
   * and `minIdleMs` has passed; wrap longer reads in `use()`.
   */
  async ensure(source: MirrorSource, opts: EnsureOptions = {}): Promise<GitRepo> {
    const target = this.#target(source);
    const refs = normalizeRefs(opts.refs ?? [], target.fullName);
    const state = repoState(target.dir);
    state.users++;
    try {
      await this.#rounds.ensure(state, target, opts.token, refs);
      await touch(target.dir);
      return new GitRepo(target.dir);
    } finally {
      state.users--;
      dropIfIdle(state);
    }
  }

  /** `ensure()`, then `fn` with the mirror held: it is not evicted until `fn` settles. */
  async use<T>(source: MirrorSource, opts: EnsureOptions, fn: (repo: GitRepo) => Promise<T>): Promise<T> {
    const target = this.#target(source);
    const state = repoState(target.dir);
    state.users++;
    try {
      return await fn(await this.ensure(source, opts));
    } finally {
      state.users--;
      // In use until now: that is its last use.
      if (state.users === 0) await touch(target.dir);
      dropIfIdle(state);
    }
  }

  /** Every mirror on disk, least recently used first. */
  list(): Promise<MirrorInfo[]> {
    return this.#budget.list();
  }

  /**
   * Deletes least recently used mirrors until the total is within maxBytes, sparing mirrors in
   * use here, locked by another process, or used within minIdleMs. Runs after every fetch.
   */
  async enforceBudget(): Promise<MirrorInfo[]> {
    const run = this.#budgetTail.then(() => this.#budget.enforce());
    this.#budgetTail = run.catch(() => {});
    return run;
  }

  /** Deletes one mirror now (say, after a reader found objects missing), unless it is in use. */
  async discard(source: MirrorSource): Promise<boolean> {
    return this.#budget.evict(this.#target(source).dir, { force: true });
  }

  /** One round's fetch: within the concurrency limit, then the budget. */
  async #fetch(target: Target, token: string | undefined, extras: string[]) {
    const result = await this.#limiter.run(() => this.#sync.sync(target, token, extras));
    try {
      await this.enforceBudget();
    } catch (err) {
      this.#log("warn", `mirror budget: ${redact(String(err), [token])}`);
    }
    return result;
  }

  #target(source: MirrorSource): Target {
    return targetOf(this.root, source, this.#allowedOrigin);
  }
}
