/**
 * One `git archive` per (repository, commit, files) for every host that deploys it. A stack's
 * release at a commit is the same bytes on every host, and a spawn from the deployer is not
 * cheap: the child is forked from a process that holds the in-process database (~0.5 GB
 * resident), and copying its page tables blocks the event loop (and with it the SSH traffic of
 * every host) for ~15 ms per spawn on an idle machine, 30 ms and more on a loaded one. Archives up
 * to `maxEntryBytes` are kept in memory (least recently used first out, `maxTotalBytes` in all);
 * a bigger one is remembered as such, and each host streams its own `git archive` (upload.ts).
 */
import { GitProcessError, LOCAL_TIMEOUT_MS, runGit } from "../git/gitProcess.ts";
import { type ArchiveMount, archiveFiles, partsOf } from "./upload.ts";

export interface ArchiveCacheOptions {
  /** Largest archive kept in memory (default 4 MiB). */
  maxEntryBytes?: number;
  /** All archives kept, together (default 16 MiB). */
  maxTotalBytes?: number;
  /** Entries kept, archives and too-big marks (default 256). */
  maxEntries?: number;
  /** Limit of each `git archive` (default LOCAL_TIMEOUT_MS, 2 minutes). */
  timeoutMs?: number;
}

interface Entry {
  archive: Promise<Buffer | undefined>;
  bytes: number;
}

export class ArchiveCache {
  readonly #maxEntry: number;
  readonly #maxTotal: number;
  readonly #maxEntries: number;
  readonly #timeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  #total = 0;
  /** `git archive` processes started (for tests and benchmarks). */
  spawned = 0;

  constructor(opts: ArchiveCacheOptions = {}) {
    this.#maxEntry = opts.maxEntryBytes ?? 4 * 1024 * 1024;
    this.#maxTotal = opts.maxTotalBytes ?? 16 * 1024 * 1024;
    this.#maxEntries = opts.maxEntries ?? 256;
    this.#timeoutMs = opts.timeoutMs ?? LOCAL_TIMEOUT_MS;
  }

  /**
   * The gzipped tar of `paths` at `commit` (what upload.ts `archiveFiles` streams), or undefined
   * when it is bigger than `maxEntryBytes`: stream it instead. Concurrent callers share one
   * `git archive`; a failed one is not kept, so the next caller tries again.
   */
  get(
    repoDir: string,
    commit: string,
    paths: readonly string[],
    mounts: readonly ArchiveMount[] = [],
  ): Promise<Buffer | undefined> {
    const used = partsOf(repoDir, commit, paths, mounts).length > 1 || paths.length === 0 ? mounts : [];
    const key = [repoDir, commit, ...used.map((m) => `${m.path}@${m.gitDir}@${m.commit}`), "", ...paths].join(
      "\0",
    );
    const hit = this.#entries.get(key);
    if (hit) {
      // Most recently used last.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit.archive;
    }
    const entry: Entry = {
      archive:
        used.length > 0
          ? this.#combined(repoDir, commit, paths, used)
          : this.#archive(repoDir, commit, paths),
      bytes: 0,
    };
    this.#entries.set(key, entry);
    entry.archive.then(
      (buf) => {
        if (this.#entries.get(key) !== entry) return;
        entry.bytes = buf?.length ?? 0;
        this.#total += entry.bytes;
        this.#evict();
      },
      () => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry.archive;
  }

  #evict(): void {
    for (const [key, e] of this.#entries) {
      if (this.#total <= this.#maxTotal && this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
      this.#total -= e.bytes;
    }
  }

  /** An archive across repositories (upload.ts), kept when within maxEntryBytes. */
  async #combined(
    repoDir: string,
    commit: string,
    paths: readonly string[],
    mounts: readonly ArchiveMount[],
  ): Promise<Buffer | undefined> {
    this.spawned++;
    const tar = archiveFiles(repoDir, commit, paths, { mounts, timeoutMs: this.#timeoutMs });
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of tar.stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > this.#maxEntry) {
        // Too big to keep: the caller streams it instead.
        tar.stream.destroy();
        await tar.done.catch(() => {});
        return undefined;
      }
      chunks.push(chunk);
    }
    await tar.done;
    return Buffer.concat(chunks);
  }

  #archive(repoDir: string, commit: string, paths: readonly string[]): Promise<Buffer | undefined> {
    this.spawned++;
    // `:(literal)` so that a file named `*` or `[x]` is that file, not a pattern.
    const specs = paths.map((p) => `:(literal)${p}`);
    return runGit(["archive", "--format=tar.gz", commit, "--", ...specs], {
      cwd: repoDir,
      timeoutMs: this.#timeoutMs,
      maxOutputBytes: this.#maxEntry,
    }).then(
      ({ stdout }) => stdout,
      (err: unknown) => {
        // Too big to keep: git was stopped at the bound, and the caller streams it instead.
        if (err instanceof GitProcessError && err.reason === "too-big") return undefined;
        throw err;
      },
    );
  }
}

/** The deployer's cache, shared by every deploy of this process. */
export const releaseArchives = new ArchiveCache();
