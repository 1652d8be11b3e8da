/**
 * The mirrors' disk budget: every mirror on disk with its size and last use, and eviction of the
 * least recently used ones past `maxBytes`, sparing those in use in this process, locked by
 * another, or used within `minIdleMs`.
 */
import { rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { FileLock, isAlive } from "./fileLock.ts";
import { asideName, dirSize, lastUse, readMeta, subdirs } from "./mirrorDisk.ts";
import type { MirrorLogLevel } from "./mirrorGit.ts";
import { dropIfIdle, peekState, repoState } from "./mirrorRounds.ts";

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

export interface MirrorBudgetOptions {
  root: string;
  maxBytes: number;
  minIdleMs: number;
  lockStaleMs: number;
  log: (level: MirrorLogLevel, message: string) => void;
}

export class MirrorBudget {
  readonly #opts: MirrorBudgetOptions;

  constructor(opts: MirrorBudgetOptions) {
    this.#opts = opts;
  }

  /** Every mirror on disk, least recently used first. */
  async list(): Promise<MirrorInfo[]> {
    const { root } = this.#opts;
    const found: MirrorInfo[] = [];
    for (const host of await subdirs(root)) {
      for (const owner of await subdirs(join(root, host))) {
        for (const name of await subdirs(join(root, host, owner))) {
          if (!name.endsWith(".git")) continue;
          const dir = join(root, host, owner, name);
          const meta = await readMeta(dir);
          const bytes = meta?.bytes ?? (await dirSize(dir));
          const lastUsedAt = await lastUse(dir);
          const state = peekState(dir);
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

  /** Evicts least recently used mirrors until the total is within maxBytes; returns those evicted. */
  async enforce(): Promise<MirrorInfo[]> {
    const { maxBytes, log } = this.#opts;
    const evicted: MirrorInfo[] = [];
    if (!Number.isFinite(maxBytes)) return evicted;
    await this.#removeOrphans();
    const mirrors = await this.list();
    let total = mirrors.reduce((sum, m) => sum + m.bytes, 0);
    if (total <= maxBytes) return evicted;
    for (const m of mirrors) {
      if (total <= maxBytes) break;
      if (m.inUse) continue;
      if (await this.evict(m.dir, { force: false, seenLastUse: m.lastUsedAt })) {
        total -= m.bytes;
        evicted.push(m);
        log("info", `evicted the mirror of ${m.fullName} (${m.bytes} bytes, least recently used)`);
      }
    }
    if (total > maxBytes)
      log(
        "warn",
        `mirrors use ${total} bytes, over the budget of ${maxBytes}: the rest are in use or recent`,
      );
    return evicted;
  }

  /**
   * Deletes one mirror unless it is in use here or locked by another process; unless `force`,
   * also unless it was used after `seenLastUse` or within minIdleMs.
   */
  async evict(dir: string, opts: { force: boolean; seenLastUse?: number }): Promise<boolean> {
    const existing = peekState(dir);
    if (existing && (existing.users > 0 || existing.current || existing.evicting)) return false;
    const state = repoState(dir);
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
        const trash = asideName(dir, "trash");
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
      dropIfIdle(state);
    }
  }

  /** Half-built clones and half-deleted mirrors left by processes that died. */
  async #removeOrphans(): Promise<void> {
    const { root } = this.#opts;
    for (const host of await subdirs(root)) {
      for (const owner of await subdirs(join(root, host))) {
        const dir = join(root, host, owner);
        for (const name of await subdirs(dir)) {
          const m = /\.git\.(tmp|trash)-(\d+)-[0-9a-f]+$/.exec(name);
          if (m && !isAlive(Number(m[2])))
            await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
        }
      }
    }
  }
}
