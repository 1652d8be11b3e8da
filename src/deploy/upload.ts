/**
 * The stack's files at a commit, as a gzipped tar stream (a small stack is under 1 KiB, where a
 * plain tar is never less than one 10 KiB record): exactly the stack's inputs, with repo-relative
 * paths, from `git archive`. The host needs no git and no clone.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type Readable, Transform } from "node:stream";

export interface TarStream {
  stream: Readable;
  /** Resolves when git archive exited cleanly; rejects with its stderr otherwise. */
  done: Promise<void>;
  /** Bytes produced so far (final once `done` resolved). */
  bytes(): number;
}

export function archiveFiles(repoDir: string, commit: string, paths: readonly string[]): TarStream {
  // `:(literal)` so that a file named `*` or `[x]` is that file, not a pattern.
  const specs = paths.map((p) => `:(literal)${p}`);
  const child: ChildProcess = spawn("git", ["archive", "--format=tar.gz", commit, "--", ...specs], {
    cwd: repoDir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let bytes = 0;
  let stderr = "";
  // Count through a pass-through, not a 'data' listener: that would start the flow before the
  // consumer is attached, and the first chunks would be lost.
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  (child.stdout as Readable).pipe(counted);
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`git archive failed: ${stderr.trim()}`)),
    );
  });
  return { stream: counted, done, bytes: () => bytes };
}
