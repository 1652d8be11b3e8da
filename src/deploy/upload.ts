/**
 * The stack's files at a commit, as a gzipped tar stream (a small stack is under 1 KiB, where a
 * plain tar is never less than one 10 KiB record): exactly the stack's inputs, with repo-relative
 * paths, from `git archive`. The host needs no git and no clone.
 */
import { pipeline, type Readable, Transform } from "node:stream";
import { NETWORK_TIMEOUT_MS, streamGit } from "../git/gitProcess.ts";

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

export interface ArchiveOptions {
  /**
   * Limit of the `git archive`, whose pace is its reader's (an upload to a slow host). Default
   * NETWORK_TIMEOUT_MS (10 minutes).
   */
  timeoutMs?: number;
}

export function archiveFiles(
  repoDir: string,
  commit: string,
  paths: readonly string[],
  opts: ArchiveOptions = {},
): TarStream {
  // `:(literal)` so that a file named `*` or `[x]` is that file, not a pattern.
  const specs = paths.map((p) => `:(literal)${p}`);
  const git = streamGit(["archive", "--format=tar.gz", commit, "--", ...specs], {
    cwd: repoDir,
    timeoutMs: opts.timeoutMs ?? NETWORK_TIMEOUT_MS,
  });
  let bytes = 0;
  // Count through a pass-through, not a 'data' listener: that would start the flow before the
  // consumer is attached, and the first chunks would be lost.
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  // A reader that destroys `counted` destroys git's stdout too, which stops git; `done` tells the rest.
  pipeline(git.stdout, counted, () => {});
  return { stream: counted, done: git.done, bytes: () => bytes };
}
