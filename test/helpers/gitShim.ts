/** A `git` wrapper that records each invocation's argv (one line per run) before running the real git. */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface GitShim {
  /** Path of the wrapper, for MirrorCacheOptions.git. */
  bin: string;
  /** Every recorded command line, arguments separated by spaces. */
  argv(): string[];
  remove(): void;
}

export function createGitShim(): GitShim {
  const dir = mkdtempSync(join(tmpdir(), "sp-gitshim-"));
  const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
  const log = join(dir, "argv.log");
  const bin = join(dir, "git");
  writeFileSync(bin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(bin, 0o755);
  return {
    bin,
    argv: () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
