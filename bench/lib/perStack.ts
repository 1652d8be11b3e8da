/**
 * Baseline B: the per-stack approach a naive tool takes. For one stack: a separate full clone of
 * the repository (local, `--no-hardlinks`, checked out at head), then the stack's files (its
 * directory plus every file or directory its compose.yaml references, at head and at base) are
 * compared byte for byte with the same files at base, read with `git show base:path`.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, posix } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { parseComposeFile } from "../../src/detect/compose.ts";
import { diskUsage } from "./stats.ts";

const run = promisify(execFile);

async function git(cwd: string, args: string[]): Promise<Buffer | undefined> {
  try {
    const { stdout } = await run("git", args, { cwd, encoding: "buffer", maxBuffer: 1 << 28 });
    return stdout;
  } catch {
    return undefined;
  }
}

export interface PerStackResult {
  stack: string;
  changed: boolean;
  /** Clone + compare, ms (du not included; the clone is left for the caller to remove). */
  ms: number;
  cloneMs: number;
  /** Disk usage of the clone (allocated blocks). */
  bytes: number;
  filesCompared: number;
}

export async function perStackCheck(
  repoDir: string,
  base: string,
  head: string,
  stack: string,
  workDir: string,
): Promise<PerStackResult> {
  const clone = join(workDir, stack);
  rmSync(clone, { recursive: true, force: true });
  const t0 = performance.now();
  await run("git", ["clone", "-q", "--no-hardlinks", "--no-tags", repoDir, clone]);
  const cloneMs = performance.now() - t0;
  const headSha = (await git(clone, ["rev-parse", "HEAD"]))?.toString().trim();
  if (headSha !== head) throw new Error(`baseline B: clone of ${stack} is at ${headSha}, not ${head}`);

  const dir = `stacks/${stack}`;
  const composePath = `${dir}/compose.yaml`;
  const refsOf = (text: string | undefined) =>
    text === undefined ? [] : parseComposeFile(composePath, text).refs.map((r) => r.path);
  const headCompose = existsSync(join(clone, composePath))
    ? readFileSync(join(clone, composePath), "utf8")
    : undefined;
  const baseCompose = (await git(clone, ["show", `${base}:${composePath}`]))?.toString("utf8");
  const roots = [...new Set([dir, ...refsOf(headCompose), ...refsOf(baseCompose)])];

  // The stack's files at head: walk the checkout.
  const headFiles = new Set<string>();
  const walk = (rel: string) => {
    const full = join(clone, rel);
    if (!existsSync(full)) return;
    if (!statSync(full).isDirectory()) {
      headFiles.add(rel);
      return;
    }
    for (const e of readdirSync(full)) walk(posix.join(rel, e));
  };
  for (const r of roots) walk(r);
  // ... and at base: list them from git.
  const listed = (await git(clone, ["ls-tree", "-r", "--name-only", base, "--", ...roots]))?.toString() ?? "";
  const baseFiles = new Set(listed.split("\n").filter(Boolean));

  let changed = false;
  let filesCompared = 0;
  for (const path of new Set([...headFiles, ...baseFiles])) {
    filesCompared++;
    const now = headFiles.has(path) ? readFileSync(join(clone, path)) : undefined;
    const then = baseFiles.has(path) ? await git(clone, ["show", `${base}:${path}`]) : undefined;
    if (!now || !then || !now.equals(then)) changed = true;
  }
  const elapsed = performance.now() - t0;
  // Left in place: removing 20,000-file trees between samples slows the next clone down a lot on
  // some filesystems; the caller removes all clones at the end, untimed.
  const bytes = diskUsage(clone);
  return { stack, changed, ms: elapsed, cloneMs, bytes, filesCompared };
}
