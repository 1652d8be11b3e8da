/**
 * One bare mirror per repository, shared by every pull request and stack:
 * `<dir>/<host>/<owner>/<name>.git`, with `dir` normally `<dataDir>/mirrors`.
 *
 * - First use clones (no filter: the planner reads trees and blobs), later uses `git fetch --prune`
 *   branches, tags and `refs/pull/* /head`, plus any commit id or other ref a caller asks for.
 * - The installation token reaches git through the environment only (`GIT_CONFIG_*` setting an
 *   `http.<origin>.extraHeader`), never argv or `.git/config`, and is redacted from every error
 *   and log line.
 * - Callers of one repository share fetches: whoever arrives while a fetch runs waits for it, and
 *   one more fetch follows for callers whose refs it did not cover. Different repositories fetch
 *   in parallel, up to `concurrency`. A lock file per mirror (pid inside; a dead pid's is taken
 *   over) keeps processes that share the directory from fetching the same mirror at once.
 * - Over `maxBytes`, the least recently used mirrors that nobody is using are deleted.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Limiter } from "../util/limiter.ts";
import { FileLock, isAlive } from "./fileLock.ts";
import { GitRepo } from "./repo.ts";

export interface MirrorSource {
  /** `repository.clone_url` of the webhook payload (so GitHub Enterprise works); no credentials in it. */
  cloneUrl: string;
  /** `owner/name`. */
  fullName: string;
  /** `repository.default_branch`: where the mirror's HEAD points. Without it HEAD is guessed. */
  defaultBranch?: string;
}

export interface EnsureOptions {
  /** Installation token (`x-access-token`); omitted for public repositories. */
  token?: string;
  /**
   * What the caller needs: full commit ids (a PR head SHA) and/or full ref names
   * (`refs/pull/1/head`, `refs/heads/main`). Ids already present need no fetch at all.
   */
  refs?: readonly string[];
}

export type MirrorLogLevel = "debug" | "info" | "warn";

export interface MirrorCacheOptions {
  /** The cache directory, normally `<dataDir>/mirrors`: mirrors live in `<dir>/<host>/<owner>/<name>.git`. */
  dir: string;
  /** Disk budget for all mirrors together; unlimited by default. */
  maxBytes?: number;
  /** Repositories fetched at once. Default 4. */
  concurrency?: number;
  /** Limit for each git process. Default 10 minutes. */
  timeoutMs?: number;
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

export type MirrorErrorKind =
  /** The server refused the token (401/403), or wanted one and none was given. */
  | "auth"
  /** No such repository, or the token cannot see it. */
  | "not-found"
  /** A requested commit id or ref does not exist on the server. */
  | "ref-not-found"
  | "network"
  | "timeout"
  /** Another process held the mirror's lock for all of lockWaitMs. */
  | "locked"
  /** Bad input: a clone URL with credentials, an odd repository name or ref. */
  | "invalid"
  | "git";

export class MirrorError extends Error {
  override name = "MirrorError";
  readonly kind: MirrorErrorKind;
  readonly fullName: string;
  /** git's own words (redacted), when git failed. */
  readonly detail: string | undefined;

  constructor(kind: MirrorErrorKind, fullName: string, message: string, detail?: string) {
    super(message);
    this.kind = kind;
    this.fullName = fullName;
    this.detail = detail;
  }
}

export interface MirrorInfo {
  dir: string;
  fullName: string;
  cloneUrl: string | undefined;
  bytes: number;
  /** ms since the epoch. */
  lastUsedAt: number;
  /** Being fetched or held by `use()` in this process. */
  inUse: boolean;
}

/** Refs every fetch brings: branches, tags and pull request heads. */
export const MIRROR_REFSPECS = [
  "+refs/heads/*:refs/heads/*",
  "+refs/tags/*:refs/tags/*",
  "+refs/pull/*/head:refs/pull/*/head",
] as const;

const META_FILE = "stackpilot-mirror.json";
/** Its mtime is the mirror's last use: utimes() is atomic, so uses never race a fetch's metadata write. */
const LAST_USE_FILE = "stackpilot-last-use";
const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

interface MirrorMeta {
  version: 1;
  fullName: string;
  cloneUrl: string;
  createdAt: string;
  lastFetchAt?: string;
  bytes?: number;
}

interface Target {
  source: MirrorSource;
  fullName: string;
  cloneUrl: string;
  /** `scheme://host[:port]/`, the scope of the auth header. */
  origin: string;
  dir: string;
}

interface RoundResult {
  /** Why the explicitly requested ids/refs could not be fetched, if they could not. */
  extrasError?: MirrorError;
}

interface Round {
  /** Commit ids and refs outside MIRROR_REFSPECS that this fetch asks for by name. */
  extras: Set<string>;
  /** Commit ids of callers that joined this fetch while it ran, hoping it brings them. */
  riders: Set<string>;
  target: Target;
  token: string | undefined;
  promise: Promise<RoundResult>;
  start(): void;
}

interface RepoState {
  dir: string;
  /** ensure()/use() calls in progress. */
  users: number;
  current: Round | undefined;
  next: Round | undefined;
  evicting: Promise<void> | undefined;
}

export class MirrorCache {
  readonly root: string;
  readonly #opts: {
    maxBytes: number;
    timeoutMs: number;
    minIdleMs: number;
    lockWaitMs: number;
    lockStaleMs: number;
    git: string;
    env: NodeJS.ProcessEnv;
    log: (level: MirrorLogLevel, message: string) => void;
  };
  readonly #limiter: Limiter;
  readonly #states = repoStates;
  #budgetTail: Promise<unknown> = Promise.resolve();

  constructor(opts: MirrorCacheOptions) {
    this.root = opts.dir;
    const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
    this.#opts = {
      maxBytes: opts.maxBytes ?? Number.POSITIVE_INFINITY,
      timeoutMs,
      minIdleMs: opts.minIdleMs ?? 60_000,
      lockWaitMs: opts.lockWaitMs ?? 3 * timeoutMs,
      lockStaleMs: opts.lockStaleMs ?? 60_000,
      git: opts.git ?? "git",
      env: opts.env ?? process.env,
      log: opts.log ?? (() => {}),
    };
    this.#limiter = new Limiter(opts.concurrency ?? 4);
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
    const state = this.#state(target.dir);
    state.users++;
    try {
      await this.#ensureIn(state, target, opts.token, refs);
      await touch(target.dir);
      return new GitRepo(target.dir);
    } finally {
      state.users--;
      this.#dropIfIdle(state);
    }
  }

  /** `ensure()`, then `fn` with the mirror held: it is not evicted until `fn` settles. */
  async use<T>(source: MirrorSource, opts: EnsureOptions, fn: (repo: GitRepo) => Promise<T>): Promise<T> {
    const target = this.#target(source);
    const state = this.#state(target.dir);
    state.users++;
    try {
      return await fn(await this.ensure(source, opts));
    } finally {
      state.users--;
      // In use until now: that is its last use.
      if (state.users === 0) await touch(target.dir);
      this.#dropIfIdle(state);
    }
  }

  /** Every mirror on disk, least recently used first. */
  async list(): Promise<MirrorInfo[]> {
    const found: MirrorInfo[] = [];
    for (const host of await subdirs(this.root)) {
      for (const owner of await subdirs(join(this.root, host))) {
        for (const name of await subdirs(join(this.root, host, owner))) {
          if (!name.endsWith(".git")) continue;
          const dir = join(this.root, host, owner, name);
          const meta = await readMeta(dir);
          const bytes = meta?.bytes ?? (await dirSize(dir));
          const lastUsedAt = await lastUse(dir);
          const state = this.#states.get(dir);
          found.push({
            dir,
            fullName: meta?.fullName ?? `${owner}/${name.slice(0, -4)}`,
            cloneUrl: meta?.cloneUrl,
            bytes,
            lastUsedAt,
            inUse: !!state && (state.users > 0 || !!state.current),
          });
        }
      }
    }
    return found.sort((a, b) => a.lastUsedAt - b.lastUsedAt);
  }

  /**
   * Deletes least recently used mirrors until the total is within maxBytes, sparing mirrors in
   * use here, locked by another process, or used within minIdleMs. Runs after every fetch.
   */
  async enforceBudget(): Promise<MirrorInfo[]> {
    const run = this.#budgetTail.then(() => this.#enforceBudget());
    this.#budgetTail = run.catch(() => {});
    return run;
  }

  /** Deletes one mirror now (say, after a reader found objects missing), unless it is in use. */
  async discard(source: MirrorSource): Promise<boolean> {
    return this.#evict(this.#target(source).dir, { force: true });
  }

  // -- coalescing -------------------------------------------------------------------------------

  async #ensureIn(state: RepoState, target: Target, token: string | undefined, refs: string[]) {
    while (state.evicting) await state.evicting;
    if (!state.current && refs.length > 0 && refs.every((r) => SHA.test(r))) {
      if ((await this.#missingRefs(target.dir, refs)).length === 0) return;
    }
    const asked = (round: Round, ref: string) => round.extras.has(ref) || isCovered(ref);
    // A running fetch will do if it covers the named refs; commit ids are checked once it is done.
    const current = state.current;
    let round: Round;
    if (current && refs.every((r) => SHA.test(r) || asked(current, r))) {
      round = current;
      // Should the running fetch not bring these ids, the fetch queued after it asks for them.
      for (const r of refs.filter((r) => SHA.test(r))) {
        current.riders.add(r);
        state.next?.extras.add(r);
      }
    } else round = this.#pendingRound(state, target, token, refs);
    for (;;) {
      const result = await round.promise;
      const missing = await this.#missingRefs(target.dir, refs);
      if (missing.length === 0) return;
      const awaited = round;
      if (missing.every((r) => asked(awaited, r))) {
        throw (
          result.extrasError ??
          new MirrorError(
            "ref-not-found",
            target.fullName,
            `${missing.join(", ")} not found in ${target.fullName} after fetching it`,
          )
        );
      }
      // Ids the fetch we joined was not asked for (say, pushed while it ran): one more, by name.
      const running = state.current;
      round =
        running && missing.every((r) => asked(running, r))
          ? running
          : this.#pendingRound(state, target, token, missing);
    }
  }

  /** The fetch that will cover `refs`: started now if none runs, else the one queued after it. */
  #pendingRound(state: RepoState, target: Target, token: string | undefined, refs: string[]): Round {
    const explicit = refs.filter((r) => SHA.test(r) || !isCovered(r));
    if (!state.current) {
      const round = this.#newRound(state, target, token, explicit);
      state.current = round;
      round.start();
      return round;
    }
    if (state.next) {
      for (const r of explicit) state.next.extras.add(r);
      // The newest caller's token is the freshest.
      if (token) state.next.token = token;
      state.next.target = target;
      return state.next;
    }
    state.next = this.#newRound(state, target, token, [...state.current.riders, ...explicit]);
    return state.next;
  }

  #newRound(state: RepoState, target: Target, token: string | undefined, extras: string[]): Round {
    let resolve!: (r: RoundResult) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<RoundResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const round: Round = {
      extras: new Set(extras),
      riders: new Set(),
      target,
      token,
      promise,
      start: () => {
        const advance = () => {
          state.current = state.next;
          state.next = undefined;
          state.current?.start();
        };
        this.#runRound(round).then(
          (r) => {
            advance();
            resolve(r);
          },
          (e: unknown) => {
            advance();
            reject(e);
          },
        );
      },
    };
    return round;
  }

  async #runRound(round: Round): Promise<RoundResult> {
    const result = await this.#limiter.run(() => this.#sync(round.target, round.token, [...round.extras]));
    try {
      await this.enforceBudget();
    } catch (err) {
      this.#opts.log("warn", `mirror budget: ${redact(String(err), [round.token])}`);
    }
    return result;
  }

  // -- one fetch ----------------------------------------------------------------------------------

  async #sync(t: Target, token: string | undefined, extras: string[]): Promise<RoundResult> {
    const started = Date.now();
    await mkdir(join(t.dir, ".."), { recursive: true });
    const lock = await FileLock.acquire(`${t.dir}.lock`, {
      waitMs: this.#opts.lockWaitMs,
      staleMs: this.#opts.lockStaleMs,
    });
    if (!lock)
      throw new MirrorError(
        "locked",
        t.fullName,
        `mirror of ${t.fullName} stayed locked by another process for ${this.#opts.lockWaitMs} ms (${t.dir}.lock)`,
      );
    try {
      await this.#removeLeftovers(t);
      let how: string;
      let extrasError: MirrorError | undefined;
      const damage = await this.#damage(t);
      if (damage === "absent") {
        extrasError = await this.#clone(t, token, extras);
        how = "cloned";
      } else if (damage) {
        this.#opts.log("warn", `mirror of ${t.fullName} is damaged (${damage}); cloning it again`);
        extrasError = await this.#clone(t, token, extras);
        how = "re-cloned";
      } else {
        how = "fetched";
        try {
          extrasError = await this.#fetchAll(t, token, extras);
          const after = await this.#checkTips(t);
          if (after !== undefined) throw new MirrorError("git", t.fullName, after, after);
        } catch (err) {
          // Refused, unreachable or too slow: the mirror is not to blame, keep it.
          if (!(err instanceof MirrorError) || err.kind !== "git") throw err;
          this.#opts.log(
            "warn",
            `fetch into the mirror of ${t.fullName} failed (${err.detail ?? err.message}); cloning it again`,
          );
          extrasError = await this.#clone(t, token, extras);
          how = "re-cloned";
        }
      }
      await this.#fixHead(t);
      await this.#git(t, ["gc", "--auto", "--quiet"]).catch((err: unknown) => {
        this.#opts.log("warn", `git gc in the mirror of ${t.fullName}: ${String(err)}`);
      });
      await touch(t.dir);
      const meta = (await readMeta(t.dir)) ?? newMeta(t);
      meta.bytes = await dirSize(t.dir);
      meta.lastFetchAt = new Date().toISOString();
      meta.cloneUrl = t.cloneUrl;
      meta.fullName = t.fullName;
      await writeMeta(t.dir, meta);
      this.#opts.log("info", `mirror of ${t.fullName} ${how} in ${Date.now() - started} ms`);
      return extrasError ? { extrasError } : {};
    } finally {
      await lock.release();
    }
  }

  /** undefined when the mirror looks sound, "absent", or what is wrong with it. */
  async #damage(t: Target): Promise<string | undefined> {
    const info = await stat(t.dir).catch(() => undefined);
    if (!info) return "absent";
    if (!info.isDirectory()) return "not a directory";
    for (const part of ["HEAD", "config", "objects", "refs", META_FILE]) {
      if (!(await stat(join(t.dir, part)).catch(() => undefined))) return `${part} is missing`;
    }
    try {
      const bare = (await this.#git(t, ["rev-parse", "--is-bare-repository"])).trim();
      if (bare !== "true") return "not a bare repository";
      const url = (await this.#git(t, ["config", "--get", "remote.origin.url"]).catch(() => "")).trim();
      if (url !== t.cloneUrl) await this.#git(t, ["config", "remote.origin.url", t.cloneUrl]);
    } catch (err) {
      return err instanceof MirrorError ? (err.detail ?? err.message) : String(err);
    }
    return this.#checkTips(t);
  }

  /** Every ref's object must be there: a half-deleted object store shows up here. */
  async #checkTips(t: Target): Promise<string | undefined> {
    try {
      await this.#git(t, ["for-each-ref", "--format=%(objecttype)"]);
      return undefined;
    } catch (err) {
      return err instanceof MirrorError ? (err.detail ?? err.message) : String(err);
    }
  }

  /**
   * One `git fetch --prune`: MIRROR_REFSPECS, plus requested ids not yet here and refs outside
   * them. If one of those does not exist (which fails the whole command), the standard refs are
   * fetched alone and the extras one by one; the extras' failure is returned, not thrown.
   */
  async #fetchAll(t: Target, token: string | undefined, extras: string[]): Promise<MirrorError | undefined> {
    const shas = extras.filter((r) => SHA.test(r));
    const missingShas = shas.length > 0 ? await this.#missingRefs(t.dir, shas) : [];
    const named = extras.filter((r) => !SHA.test(r)).map((r) => `+${r}:${r}`);
    const fetch = (specs: readonly string[], prune: boolean) =>
      this.#git(
        t,
        [
          "fetch",
          ...(prune ? ["--prune"] : []),
          "--no-tags",
          "--no-auto-gc",
          "--no-write-fetch-head",
          "--quiet",
          "origin",
          ...specs,
        ],
        { token, network: true },
      );
    const extraSpecs = [...missingShas, ...named];
    try {
      await fetch([...MIRROR_REFSPECS, ...extraSpecs], true);
      return undefined;
    } catch (err) {
      if (!(err instanceof MirrorError) || err.kind !== "ref-not-found" || extraSpecs.length === 0) throw err;
    }
    await fetch(MIRROR_REFSPECS, true);
    let first: MirrorError | undefined;
    for (const spec of extraSpecs) {
      if (SHA.test(spec) && (await this.#missingRefs(t.dir, [spec])).length === 0) continue;
      try {
        await fetch([spec], false);
      } catch (err) {
        if (!(err instanceof MirrorError) || err.kind !== "ref-not-found") throw err;
        first ??= err;
      }
    }
    return first;
  }

  /** A new mirror, built beside the old one (if any) and swapped in only once complete. */
  async #clone(t: Target, token: string | undefined, extras: string[]): Promise<MirrorError | undefined> {
    const tmp = `${t.dir}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const at = { ...t, dir: tmp };
    try {
      await this.#git(at, ["init", "--bare", "--quiet", "--template="]);
      const config: [string, string][] = [
        ["remote.origin.url", t.cloneUrl],
        ["gc.autoDetach", "false"],
        ["core.logAllRefUpdates", "false"],
      ];
      for (const [key, value] of config) await this.#git(at, ["config", key, value]);
      for (const spec of MIRROR_REFSPECS)
        await this.#git(at, ["config", "--add", "remote.origin.fetch", spec]);
      const extrasError = await this.#fetchAll(at, token, extras);
      await writeMeta(tmp, newMeta(t));
      const old = await stat(t.dir).catch(() => undefined);
      if (old) {
        const trash = `${t.dir}.trash-${process.pid}-${randomBytes(4).toString("hex")}`;
        await rename(t.dir, trash);
        await rename(tmp, t.dir);
        await rm(trash, { recursive: true, force: true });
      } else {
        await rename(tmp, t.dir);
      }
      return extrasError;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /** HEAD to the default branch when known, else to main/master/any branch if it dangles. */
  async #fixHead(t: Target): Promise<void> {
    const head = (await readFile(join(t.dir, "HEAD"), "utf8").catch(() => "")).trim();
    const current = head.startsWith("ref: ") ? head.slice(5) : undefined;
    const branches = (await this.#git(t, ["for-each-ref", "--format=%(refname)", "refs/heads/"]))
      .split("\n")
      .filter(Boolean);
    const wanted = t.source.defaultBranch ? `refs/heads/${t.source.defaultBranch}` : undefined;
    let target: string | undefined;
    if (wanted && branches.includes(wanted)) target = wanted;
    else if (!current || !branches.includes(current))
      target = ["refs/heads/main", "refs/heads/master"].find((b) => branches.includes(b)) ?? branches[0];
    if (target && target !== current) await this.#git(t, ["symbolic-ref", "HEAD", target]);
  }

  /** The refs (ids or names) that do not resolve to an object in the mirror. */
  async #missingRefs(dir: string, refs: string[]): Promise<string[]> {
    if (refs.length === 0) return [];
    try {
      const out = await this.#git({ dir }, ["cat-file", "--batch-check"], {
        input: `${refs.join("\n")}\n`,
      });
      const lines = out.split("\n");
      return refs.filter((_, i) => {
        const line = lines[i] ?? "";
        return line === "" || line.endsWith(" missing") || line.endsWith(" ambiguous");
      });
    } catch {
      return [...refs];
    }
  }

  async #removeLeftovers(t: Target): Promise<void> {
    const parent = join(t.dir, "..");
    const base = t.dir.slice(parent.length + 1);
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      const m = new RegExp(`^${escapeRegExp(base)}\\.(tmp|trash)-(\\d+)-[0-9a-f]+$`).exec(name);
      // We hold the lock: nobody else is building or swapping this mirror now.
      if (m) await rm(join(parent, name), { recursive: true, force: true }).catch(() => {});
    }
  }

  // -- eviction -----------------------------------------------------------------------------------

  async #enforceBudget(): Promise<MirrorInfo[]> {
    const evicted: MirrorInfo[] = [];
    if (!Number.isFinite(this.#opts.maxBytes)) return evicted;
    await this.#removeOrphans();
    const mirrors = await this.list();
    let total = mirrors.reduce((sum, m) => sum + m.bytes, 0);
    if (total <= this.#opts.maxBytes) return evicted;
    for (const m of mirrors) {
      if (total <= this.#opts.maxBytes) break;
      if (m.inUse) continue;
      if (await this.#evict(m.dir, { force: false, seenLastUse: m.lastUsedAt })) {
        total -= m.bytes;
        evicted.push(m);
        this.#opts.log("info", `evicted the mirror of ${m.fullName} (${m.bytes} bytes, least recently used)`);
      }
    }
    if (total > this.#opts.maxBytes)
      this.#opts.log(
        "warn",
        `mirrors use ${total} bytes, over the budget of ${this.#opts.maxBytes}: the rest are in use or recent`,
      );
    return evicted;
  }

  async #evict(dir: string, opts: { force: boolean; seenLastUse?: number }): Promise<boolean> {
    const existing = this.#states.get(dir);
    if (existing && (existing.users > 0 || existing.current || existing.evicting)) return false;
    const state = this.#state(dir);
    let done!: () => void;
    state.evicting = new Promise((r) => {
      done = r;
    });
    try {
      const lock = await FileLock.acquire(`${dir}.lock`, {
        waitMs: 0,
        staleMs: this.#opts.lockStaleMs,
      }).catch(() => undefined);
      if (!lock) return false;
      try {
        if (!(await stat(dir).catch(() => undefined))) return false;
        if (!opts.force) {
          // Used meanwhile (perhaps by another process)? Then it is no longer the least recent.
          const used = await lastUse(dir);
          if (opts.seenLastUse !== undefined && used > opts.seenLastUse) return false;
          if (Date.now() - used < this.#opts.minIdleMs) return false;
        }
        const trash = `${dir}.trash-${process.pid}-${randomBytes(4).toString("hex")}`;
        try {
          await rename(dir, trash);
        } catch (err) {
          this.#opts.log("warn", `could not evict ${dir}: ${String(err)}`);
          return false;
        }
        // Gone from its place already; a leftover trash dir is removed by the next fetch or budget run.
        await rm(trash, { recursive: true, force: true }).catch(() => {});
        return true;
      } finally {
        await lock.release();
      }
    } finally {
      state.evicting = undefined;
      done();
      this.#dropIfIdle(state);
    }
  }

  /** Half-built clones and half-deleted mirrors left by processes that died. */
  async #removeOrphans(): Promise<void> {
    for (const host of await subdirs(this.root)) {
      for (const owner of await subdirs(join(this.root, host))) {
        const dir = join(this.root, host, owner);
        for (const name of await subdirs(dir)) {
          const m = /\.git\.(tmp|trash)-(\d+)-[0-9a-f]+$/.exec(name);
          if (m && !isAlive(Number(m[2])))
            await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
        }
      }
    }
  }

  // -- plumbing -----------------------------------------------------------------------------------

  #target(source: MirrorSource): Target {
    const fullName = source.fullName;
    const parts = fullName.split("/");
    if (
      parts.length !== 2 ||
      parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p) || p === "." || p === ".." || p.endsWith(".lock"))
    )
      throw new MirrorError("invalid", fullName, `not a repository name: ${JSON.stringify(fullName)}`);
    let url: URL;
    try {
      url = new URL(source.cloneUrl);
    } catch {
      throw new MirrorError("invalid", fullName, `clone URL of ${fullName} is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new MirrorError(
        "invalid",
        fullName,
        `clone URL of ${fullName} must be http(s), not ${url.protocol}`,
      );
    if (url.username || url.password)
      throw new MirrorError(
        "invalid",
        fullName,
        `clone URL of ${fullName} must not carry credentials: pass the token as opts.token`,
      );
    const host = `${url.hostname}${url.port ? `_${url.port}` : ""}`
      .toLowerCase()
      .replace(/[^a-z0-9._-]/g, "_");
    const [owner, name] = parts.map((p) => p.toLowerCase()) as [string, string];
    return {
      source,
      fullName,
      cloneUrl: url.href,
      origin: `${url.protocol}//${url.host}/`,
      dir: join(this.root, host, owner, `${name}.git`),
    };
  }

  #state(dir: string): RepoState {
    let state = this.#states.get(dir);
    if (!state) {
      state = { dir, users: 0, current: undefined, next: undefined, evicting: undefined };
      this.#states.set(dir, state);
    }
    return state;
  }

  #dropIfIdle(state: RepoState): void {
    if (state.users === 0 && !state.current && !state.next && !state.evicting) this.#states.delete(state.dir);
  }

  /** Runs git on a mirror (GIT_DIR, never discovery), with auth through the environment only. */
  async #git(
    t: Pick<Target, "dir"> & Partial<Target>,
    args: string[],
    opts: { token?: string | undefined; network?: boolean; input?: string } = {},
  ): Promise<string> {
    const env = gitEnv(this.#opts.env, t.dir, opts.network ? t.origin : undefined, opts.token);
    const started = Date.now();
    await mkdir(this.root, { recursive: true });
    try {
      const out = await runGit(this.#opts.git, args, {
        env,
        cwd: this.root,
        timeoutMs: this.#opts.timeoutMs,
        input: opts.input,
      });
      if (opts.network)
        this.#opts.log("debug", `git ${args[0]} ${t.fullName ?? t.dir}: ${Date.now() - started} ms`);
      return out;
    } catch (err) {
      const failure = err instanceof GitFailure ? err : undefined;
      const stderr = redact(failure?.stderr ?? String(err), [opts.token]);
      const kind: MirrorErrorKind = failure?.timedOut ? "timeout" : classify(stderr);
      const who = t.fullName ?? t.dir;
      const message = describe(
        kind,
        who,
        t.origin,
        args[0] ?? "git",
        this.#opts.timeoutMs,
        stderr,
        !!opts.token,
      );
      this.#opts.log(opts.network ? "warn" : "debug", message);
      throw new MirrorError(kind, who, message, lastLines(stderr));
    }
  }
}

// -- environment and redaction --------------------------------------------------------------------

/** Variables that would point git elsewhere, print secrets, or ask a human for them. */
const DROPPED_ENV = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
  "GIT_ASKPASS",
  "SSH_ASKPASS",
  "GIT_TRACE",
  "GIT_TRACE_CURL",
  "GIT_TRACE_PACKET",
  "GIT_CURL_VERBOSE",
];

/**
 * git's environment: the token as an `http.<origin>.extraHeader` set through GIT_CONFIG_COUNT
 * (so it is in neither argv nor any config file, and is sent to that origin only), credential
 * helpers off (nothing can store it, nothing else is offered on a 401), prompts off.
 */
export function gitEnv(
  base: NodeJS.ProcessEnv,
  gitDir: string | undefined,
  origin: string | undefined,
  token: string | undefined,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of DROPPED_ENV) delete env[name];
  if (gitDir) env.GIT_DIR = gitDir;
  env.GIT_TERMINAL_PROMPT = "0";
  env.GCM_INTERACTIVE = "never";
  env.GIT_TRACE_REDACT = "1";
  const pairs: [string, string][] = [["credential.helper", ""]];
  if (token && origin) pairs.push([`http.${origin}.extraHeader`, `Authorization: Basic ${basicAuth(token)}`]);
  const existing = Number(env.GIT_CONFIG_COUNT);
  let n = Number.isInteger(existing) && existing > 0 ? existing : 0;
  for (const [key, value] of pairs) {
    env[`GIT_CONFIG_KEY_${n}`] = key;
    env[`GIT_CONFIG_VALUE_${n}`] = value;
    n++;
  }
  env.GIT_CONFIG_COUNT = String(n);
  return env;
}

const basicAuth = (token: string) => Buffer.from(`x-access-token:${token}`).toString("base64");

/** Removes tokens (raw, URL-encoded, and inside a Basic header) and anything credential-shaped. */
export function redact(text: string, tokens: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const token of tokens) {
    if (!token) continue;
    for (const form of [
      basicAuth(token),
      token,
      encodeURIComponent(token),
      Buffer.from(token).toString("base64"),
    ])
      out = out.split(form).join("***");
  }
  return out
    .replace(/(authorization:\s*(?:basic|bearer|token)\s+)\S+/gi, "$1***")
    .replace(/(https?:\/\/)[^/@\s]+@/gi, "$1***@")
    .replace(/\bgh[pousr]_[A-Za-z0-9_]{16,}/g, "gh*_***");
}

function classify(stderr: string): MirrorErrorKind {
  if (
    /could not read (?:Username|Password)|Authentication failed|terminal prompts disabled|returned error: 40[13]|HTTP 40[13]/i.test(
      stderr,
    )
  )
    return "auth";
  if (/repository '.*' not found|Repository not found|returned error: 404|HTTP 404/i.test(stderr))
    return "not-found";
  if (/couldn't find remote ref|not our ref|no such remote ref|invalid refspec/i.test(stderr))
    return "ref-not-found";
  if (
    /Could not resolve host|Failed to connect|Connection refused|Connection reset|Connection timed out|Operation timed out|SSL|TLS|unable to access|RPC failed|early EOF|hung up|unexpected disconnect|protocol error|returned error: 5\d\d|HTTP 5\d\d/i.test(
      stderr,
    )
  )
    return "network";
  return "git";
}

function describe(
  kind: MirrorErrorKind,
  who: string,
  origin: string | undefined,
  op: string,
  timeoutMs: number,
  stderr: string,
  hadToken: boolean,
): string {
  const where = origin ? ` from ${origin}` : "";
  switch (kind) {
    case "auth":
      return hadToken
        ? `git ${op} of ${who}${where} was refused (HTTP 401/403): the installation token was rejected, has expired, or cannot read this repository`
        : `git ${op} of ${who}${where} needs authentication and no token was given`;
    case "not-found":
      return `git ${op} of ${who}${where}: repository not found (or the token cannot see it)`;
    case "ref-not-found":
      return `git ${op} of ${who}${where}: ${lastLines(stderr, 1)}`;
    case "timeout":
      return `git ${op} of ${who}${where} timed out after ${timeoutMs} ms`;
    case "network":
      return `git ${op} of ${who}${where} could not reach the server: ${lastLines(stderr, 1)}`;
    default:
      return `git ${op} in the mirror of ${who} failed: ${lastLines(stderr, 2)}`;
  }
}

const lastLines = (text: string, n = 5) => text.trim().split("\n").slice(-n).join("\n");

// -- processes and files --------------------------------------------------------------------------

class GitFailure extends Error {
  readonly stderr: string;
  readonly timedOut: boolean;
  constructor(stderr: string, timedOut: boolean, code: number | null, signal: string | null) {
    super(`git exited with ${code ?? signal}`);
    this.stderr = stderr;
    this.timedOut = timedOut;
  }
}

/** git in its own process group, so a timeout also ends git-remote-https and friends. */
function runGit(
  bin: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs: number; input: string | undefined },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    const out: Buffer[] = [];
    let stderr = "";
    let timedOut = false;
    let settled = false;
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, opts.timeoutMs);
    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new GitFailure(String(err), false, null, null));
    });
    child.on("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (code === 0 && !timedOut) resolve(Buffer.concat(out).toString());
      else reject(new GitFailure(stderr, timedOut, code, signal));
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input);
    }
  });
}

/** Every mirror of this process, whichever MirrorCache opened it: in-process coordination is per directory. */
const repoStates = new Map<string, RepoState>();

let clock = 0;
/** Strictly increasing, so two uses in one millisecond still have an order. */
function now(): number {
  clock = Math.max(Date.now(), clock + 1);
  return clock;
}

/** Records a use of the mirror (no-op if it is gone). */
async function touch(dir: string): Promise<void> {
  const file = join(dir, LAST_USE_FILE);
  const at = now() / 1000;
  try {
    await utimes(file, at, at);
  } catch {
    if (!(await stat(join(dir, META_FILE)).catch(() => undefined))) return;
    await writeFile(file, "")
      .then(() => utimes(file, at, at))
      .catch(() => {});
  }
}

/** ms since the epoch; a mirror without a use record counts as used when its directory last changed. */
async function lastUse(dir: string): Promise<number> {
  const info =
    (await stat(join(dir, LAST_USE_FILE)).catch(() => undefined)) ?? (await stat(dir).catch(() => undefined));
  return info?.mtimeMs ?? 0;
}

function newMeta(t: Target): MirrorMeta {
  return {
    version: 1,
    fullName: t.fullName,
    cloneUrl: t.cloneUrl,
    createdAt: new Date().toISOString(),
  };
}

async function readMeta(dir: string): Promise<MirrorMeta | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, META_FILE), "utf8")) as MirrorMeta;
    return meta && typeof meta === "object" && meta.version === 1 ? meta : undefined;
  } catch {
    return undefined;
  }
}

async function writeMeta(dir: string, meta: MirrorMeta): Promise<void> {
  const tmp = join(dir, `${META_FILE}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  await writeFile(tmp, `${JSON.stringify(meta, null, 2)}\n`);
  await rename(tmp, join(dir, META_FILE)).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Bytes allocated on disk under `dir`. */
async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        const st = await lstat(p).catch(() => undefined);
        if (st) total += st.blocks > 0 ? st.blocks * 512 : st.size;
      }
    }
  }
  return total;
}

function normalizeRefs(refs: readonly string[], fullName: string): string[] {
  const out = new Set<string>();
  for (const raw of refs) {
    const ref = raw.trim();
    if (SHA.test(ref.toLowerCase())) out.add(ref.toLowerCase());
    else if (isRefName(ref)) out.add(ref);
    else
      throw new MirrorError(
        "invalid",
        fullName,
        `not a full commit id or ref name (refs/...): ${JSON.stringify(ref.slice(0, 100))}`,
      );
  }
  return [...out];
}

function isRefName(ref: string): boolean {
  return (
    ref.startsWith("refs/") &&
    !ref.endsWith("/") &&
    !ref.endsWith(".lock") &&
    !ref.endsWith(".") &&
    !ref.includes("..") &&
    !ref.includes("//") &&
    !ref.includes("@{") &&
    !ref.includes("/.") &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    !/[\x00-\x20\x7f~^:?*[\\]/.test(ref)
  );
}

/** Refs every fetch brings anyway (MIRROR_REFSPECS). */
function isCovered(ref: string): boolean {
  return /^refs\/(?:heads|tags)\/./.test(ref) || /^refs\/pull\/[^/]+\/head$/.test(ref);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
