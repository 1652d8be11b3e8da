/**
 * The stack's files at a commit, as a gzipped tar stream (a small stack is under 1 KiB, where a
 * plain tar is never less than one 10 KiB record): exactly the stack's inputs, with repo-relative
 * paths, from `git archive`. The host needs no git and no clone.
 *
 * Files inside mounted repositories (submodules, sources: git/mounts.ts) are not in the planned
 * repository's objects: each repository's share comes from its own `git archive` (a mount's under
 * its path with `--prefix`), and the entries are re-packed, one after another as they stream,
 * into one tar (tar-stream), gzipped here.
 */
import { pipeline, type Readable, Transform } from "node:stream";
import { createGzip } from "node:zlib";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import { type GitStream, NETWORK_TIMEOUT_MS, streamGit } from "../git/gitProcess.ts";

export interface TarStream {
  stream: Readable;
  /**
   * Resolves when git archive exited cleanly, or when the reader destroyed the stream (its own
   * error says why); rejects with git's words when it failed or outlived its time.
   */
  done: Promise<void>;
  /** Bytes produced so far (final once `done` resolved). */
  bytes(): number;
}

/** A repository whose files appear at `path` (a StackSnapshot's `mounts`). */
export interface ArchiveMount {
  path: string;
  gitDir: string;
  commit: string;
}

export interface ArchiveOptions {
  /**
   * Limit of the `git archive`, whose pace is its reader's (an upload to a slow host). Default
   * NETWORK_TIMEOUT_MS (10 minutes).
   */
  timeoutMs?: number;
  /** Mounted repositories: a path inside one is taken from it. */
  mounts?: readonly ArchiveMount[] | undefined;
}

/** One repository's share of an archive. */
interface Part {
  dir: string;
  /** `dir` is a git directory (a mount), not a checkout or the planned repository's mirror. */
  gitDir: boolean;
  commit: string;
  /** `vendor/tools/` for a mount. */
  prefix: string;
  paths: string[];
}

export function archiveFiles(
  repoDir: string,
  commit: string,
  paths: readonly string[],
  opts: ArchiveOptions = {},
): TarStream {
  const timeoutMs = opts.timeoutMs ?? NETWORK_TIMEOUT_MS;
  const parts = partsOf(repoDir, commit, paths, opts.mounts ?? []);
  if (parts.length === 1 && parts[0]?.prefix === "") {
    const git = streamGit(["archive", "--format=tar.gz", commit, "--", ...literal(paths)], {
      cwd: repoDir,
      timeoutMs,
    });
    return counted(git.stdout, git.done);
  }
  return combined(parts, timeoutMs);
}

/** Which repository each path comes from: the deepest mount holding it, else the planned repository. */
export function partsOf(
  repoDir: string,
  commit: string,
  paths: readonly string[],
  mounts: readonly ArchiveMount[],
): Part[] {
  const own: Part = { dir: repoDir, gitDir: false, commit, prefix: "", paths: [] };
  const byMount = new Map<ArchiveMount, Part>();
  const deepestFirst = [...mounts].sort((a, b) => b.path.length - a.path.length);
  for (const path of paths) {
    const m = deepestFirst.find((x) => path.startsWith(`${x.path}/`));
    if (!m) {
      own.paths.push(path);
      continue;
    }
    let part = byMount.get(m);
    if (!part) {
      part = { dir: m.gitDir, gitDir: true, commit: m.commit, prefix: `${m.path}/`, paths: [] };
      byMount.set(m, part);
    }
    part.paths.push(path.slice(m.path.length + 1));
  }
  return [own, ...byMount.values()].filter((p) => p.paths.length > 0 || p === own);
}

// `:(literal)` so that a file named `*` or `[x]` is that file, not a pattern.
const literal = (paths: readonly string[]) => paths.map((p) => `:(literal)${p}`);

function counted(source: Readable, done: Promise<void>): TarStream {
  let bytes = 0;
  // Count through a pass-through, not a 'data' listener: that would start the flow before the
  // consumer is attached, and the first chunks would be lost.
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  // A reader that destroys `out` destroys the source too, which stops git; `done` tells the rest.
  pipeline(source, out, () => {});
  return { stream: out, done, bytes: () => bytes };
}

/** One tar.gz from several repositories' `git archive`s, streamed part after part. */
function combined(parts: readonly Part[], timeoutMs: number): TarStream {
  const pack = tarPack();
  const gzip = createGzip();
  pipeline(pack, gzip, () => {});
  let current: GitStream | undefined;
  let stopped = false;
  const run = async () => {
    for (const part of parts) {
      if (part.paths.length === 0) continue;
      const git = streamGit(
        [
          "archive",
          "--format=tar",
          ...(part.prefix ? [`--prefix=${part.prefix}`] : []),
          part.commit,
          "--",
          ...literal(part.paths),
        ],
        { cwd: part.dir, timeoutMs, ...(part.gitDir ? { gitDir: part.dir, workTree: part.dir } : {}) },
      );
      current = git;
      const entries = tarExtract();
      pipeline(git.stdout, entries, () => {});
      for await (const entry of entries) {
        if (stopped) throw new Error("the archive's reader stopped");
        const h = entry.header;
        if (h.type !== "file" && h.type !== "symlink" && h.type !== "directory") {
          entry.resume();
          continue;
        }
        await new Promise<void>((resolve, reject) => {
          const into = pack.entry(
            { name: h.name, type: h.type, mode: h.mode, size: h.size, linkname: h.linkname, mtime: h.mtime },
            (err) => (err ? reject(err) : resolve()),
          );
          pipeline(entry, into, (err) => {
            if (err) reject(err);
          });
        });
      }
      await git.done;
    }
    pack.finalize();
  };
  const done = run().catch((err: unknown) => {
    // A cut stream fails gzip's check on the host: nothing half-made is published.
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    if (!stopped) throw err;
  });
  done.catch(() => {});
  const out = counted(gzip, done);
  out.stream.once("close", () => {
    if (out.stream.readableEnded) return;
    stopped = true;
    current?.stdout.destroy();
  });
  return out;
}
