/**
 * What a stack has to do with mounts (git/mounts.ts): which mounted repositories its inputs lie in
 * (a release takes those files from them), and its errors where an input lies in a mount that
 * could not be made (a submodule the App cannot read, a pointer to a commit that is gone, a source
 * without a clone). Pure.
 */
import { formatKeyPath, type Problem } from "../config/problems.ts";
import { CONFIG_PATH } from "../config/repoConfigSchema.ts";
import type { YamlSource } from "../config/yamlSource.ts";
import type { Mount, MountFailure } from "../git/mounts.ts";
import type { ComposeFileInfo } from "./compose.ts";
import { describeRef, type StackInputs } from "./inputs.ts";

const within = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** The mounts holding at least one of the stack's input files (outer ones of nested mounts too). */
export function mountsUsed(inputs: StackInputs, mounts: readonly Mount[]): Mount[] {
  if (mounts.length === 0) return [];
  const used = new Set<Mount>();
  for (const [path, entry] of inputs.files) {
    if (entry === null) continue;
    for (const m of mounts) if (within(path, m.path)) used.add(m);
  }
  return mounts.filter((m) => used.has(m));
}

/**
 * The stack's errors for inputs inside failed mounts: at the compose reference naming the path
 * (`file:line:col`) when there is one, else at the mount's path (a file of the stack directory or a
 * watched path inside it).
 */
export function failedMountProblems(
  stack: string,
  compose: ComposeFileInfo,
  inputs: StackInputs,
  failures: readonly MountFailure[],
): Problem[] {
  const problems: Problem[] = [];
  for (const f of failures) {
    const refs = compose.refs.filter((r) => within(r.path, f.path) || within(f.path, r.path));
    for (const ref of refs)
      problems.push({
        file: ref.from,
        line: ref.line,
        col: ref.col,
        key: "",
        message: `${describeRef(ref.kind, ref.service)} ${ref.path}: ${f.message}`,
        severity: "error",
      });
    if (refs.length > 0) continue;
    const inside = [...inputs.files.keys()].find((p) => within(p, f.path));
    if (inside !== undefined)
      problems.push({
        file: f.path,
        line: 1,
        col: 1,
        key: "",
        message: `${f.message}; stack ${stack} uses ${inside}`,
        severity: "error",
      });
  }
  return problems;
}

/**
 * Each failed mount once for the whole plan: a warning (stacks using it say so as errors), except
 * a source whose path holds the repository's own files, an error of the config at `path`.
 */
export function mountFailureNotes(
  failures: readonly MountFailure[],
  source: YamlSource | undefined,
): Problem[] {
  return failures.map((f) => {
    if (f.kind === "submodule")
      return {
        file: f.path,
        line: 1,
        col: 1,
        key: "",
        message: `${f.message} (stacks using files inside it are not deployed)`,
        severity: "warning",
      };
    const keyPath = f.collision ? ["sources", f.name, "path"] : ["sources", f.name];
    const at = source?.positionOf(keyPath) ?? { line: 0, col: 0 };
    return {
      file: CONFIG_PATH,
      ...at,
      key: formatKeyPath(keyPath),
      message: f.collision ? f.message : `${f.message} (stacks using files of it are not deployed)`,
      severity: f.collision ? "error" : "warning",
    };
  });
}
