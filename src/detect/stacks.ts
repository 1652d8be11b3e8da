/**
 * Which stacks exist at a commit: directories under `discover.roots` holding a compose file, plus
 * explicit `stacks:` entries that add or override. Pure: (config, tree) -> stack definitions.
 */
import { posix } from "node:path";
import { formatKeyPath, type Problem } from "../config/problems.ts";
import { unsafePathReason } from "../config/repoConfig.ts";
import {
  COMPOSE_FILE_NAMES,
  type HostSelector,
  PROJECT_NAME,
  type RepoConfig,
  SAFE_NAME,
  type StackEntry,
} from "../config/repoConfigSchema.ts";
import type { YamlSource } from "../config/yamlSource.ts";
import { MODE_SYMLINK } from "../git/repo.ts";
import { compileGlob } from "../util/glob.ts";
import type { PathIndex } from "./pathIndex.ts";

export interface StackDef {
  name: string;
  /** Repo-relative directory. */
  path: string;
  /** Repo-relative compose files, merged in order. */
  composeFiles: string[];
  /** Repo-relative extra env files (`--env-file`). */
  envFiles: string[];
  watch: string[];
  hosts: HostSelector[];
  environment?: string;
  projectName: string;
  prune: boolean;
  /** Extra tags pushed with built images, besides the commit. */
  imageTags: string[];
}

/** Compose merges `compose.override.yaml` into `compose.yaml` by itself; we pass files explicitly, so we add it. */
const OVERRIDE_OF: Record<string, string[]> = {
  "compose.yaml": ["compose.override.yaml", "compose.override.yml"],
  "compose.yml": ["compose.override.yaml", "compose.override.yml"],
  "docker-compose.yaml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
  "docker-compose.yml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
};

export function resolveStacks(
  config: RepoConfig,
  index: PathIndex,
  source?: YamlSource,
  configFile = ".github/stackpilot.yml",
): { stacks: StackDef[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const at = (key: PropertyKey[], message: string, severity: Problem["severity"] = "error"): void => {
    problems.push({
      file: configFile,
      ...(source?.positionOf(key) ?? { line: 0, col: 0 }),
      key: formatKeyPath(key),
      message,
      severity,
    });
  };

  const discovered = discover(config, index, problems);
  const byName = new Map<string, { path: string; entry?: StackEntry; entryIndex?: number }>();
  for (const d of discovered) byName.set(d.name, { path: d.path });

  config.stacks.forEach((entry, i) => {
    const found = byName.get(entry.name);
    const path = entry.path ?? found?.path;
    if (path === undefined) {
      // Warn, not fail: deleting a stack's directory must still plan its removal (prune).
      at(
        ["stacks", i, "name"],
        `stack "${entry.name}" has no path and no directory of that name under ${config.discover.roots.join(", ")}; ignored`,
        "warning",
      );
      return;
    }
    byName.set(entry.name, { path: normalize(path), entry, entryIndex: i });
  });

  // Two stacks in one directory would fight over the same compose project.
  const byPath = new Map<string, string>();
  const stacks: StackDef[] = [];
  for (const [name, { path, entry, entryIndex }] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (entry?.enabled === false) continue;
    const key = (k: string, ...rest: PropertyKey[]): PropertyKey[] =>
      entryIndex === undefined ? [] : ["stacks", entryIndex, k, ...rest];
    const other = byPath.get(path);
    if (other) {
      at(key("path"), `stacks "${other}" and "${name}" share the directory ${path}`);
      continue;
    }
    byPath.set(path, name);

    const symlink = symlinkAncestor(path, index);
    if (symlink) {
      at(
        key("path"),
        `stack "${name}": ${symlink} is a symlink; stack paths must be real directories inside the repository`,
      );
      continue;
    }
    const composeFiles = entry?.compose_files
      ? entry.compose_files.map((f) => posix.join(path, f))
      : defaultComposeFiles(path, index);
    if (composeFiles.length === 0) {
      at(
        key("path"),
        `stack "${name}": no compose file in ${path} (looked for ${COMPOSE_FILE_NAMES.join(", ")})`,
      );
      continue;
    }
    let ok = true;
    const checkFile = (file: string, what: PropertyKey[], mustExist: boolean) => {
      if (file.startsWith("..")) {
        at(what, `stack "${name}": ${file} is outside the repository`);
        ok = false;
      } else if (index.tree.get(file)?.mode === MODE_SYMLINK || symlinkAncestor(posix.dirname(file), index)) {
        at(what, `stack "${name}": ${file} is a symlink; it could point outside the repository`);
        ok = false;
      } else if (mustExist && index.kind(file) !== "file") {
        at(what, `stack "${name}": ${file} does not exist at this commit`);
        ok = false;
      }
    };
    for (const [j, f] of composeFiles.entries()) checkFile(f, key("compose_files", j), true);
    const envFiles = (entry?.env_files ?? []).map((f) => posix.join(path, f));
    for (const [j, f] of envFiles.entries()) checkFile(f, key("env_files", j), false);
    if (!ok) continue;

    const projectName = entry?.project_name ?? name.toLowerCase();
    if (!PROJECT_NAME.test(projectName)) {
      at(
        key("name"),
        `stack "${name}": "${projectName}" is not a valid compose project name; set project_name`,
      );
      continue;
    }
    const environment = entry?.environment ?? config.defaults.environment;
    stacks.push({
      name,
      path,
      composeFiles,
      envFiles,
      watch: entry?.watch ?? [],
      hosts:
        entry?.hosts ??
        config.defaults.hosts ??
        (environment ? config.environments[environment]?.hosts : undefined) ??
        [],
      ...(environment ? { environment } : {}),
      projectName,
      prune: entry?.prune ?? config.defaults.prune,
      imageTags: entry?.image_tags ?? config.defaults.image_tags ?? [],
    });
  }
  return { stacks, problems };
}

function discover(
  config: RepoConfig,
  index: PathIndex,
  problems: Problem[],
): { name: string; path: string }[] {
  const isRoot = compileGlob(config.discover.roots, { dot: false });
  const found = new Map<string, string>();
  for (const p of index.paths) {
    const base = posix.basename(p);
    if (!COMPOSE_FILE_NAMES.includes(base)) continue;
    const dir = posix.dirname(p);
    if (dir === "." || !isRoot(dir)) continue;
    const name = posix.basename(dir);
    const first = found.get(name);
    if (first === dir) continue;
    if (!SAFE_NAME.test(name)) {
      problems.push({
        file: p,
        line: 0,
        col: 0,
        key: "",
        message: `directory name "${name}" is not a valid stack name (letters, digits, ".", "_", "-"); rename it or set enabled: false in a stacks entry`,
        severity: "error",
      });
      continue;
    }
    if (first !== undefined) {
      problems.push({
        file: p,
        line: 0,
        col: 0,
        key: "",
        message: `stack name "${name}" is discovered twice (${first} and ${dir}); add a stacks entry with another name and an explicit path`,
        severity: "error",
      });
      continue;
    }
    found.set(name, dir);
  }
  return [...found].map(([name, path]) => ({ name, path }));
}

/** The first compose file name found in the directory, plus its override file if present. */
function defaultComposeFiles(dir: string, index: PathIndex): string[] {
  for (const name of COMPOSE_FILE_NAMES) {
    const file = posix.join(dir, name);
    if (index.kind(file) !== "file") continue;
    const overrides = (OVERRIDE_OF[name] ?? [])
      .map((o) => posix.join(dir, o))
      .filter((o) => index.kind(o) === "file");
    return [file, ...overrides.slice(0, 1)];
  }
  return [];
}

/** The path itself or its nearest ancestor that is a symlink in the tree, if any. */
function symlinkAncestor(path: string, index: PathIndex): string | undefined {
  for (let p = path; p && p !== "."; p = posix.dirname(p)) {
    if (index.tree.get(p)?.mode === MODE_SYMLINK) return p;
  }
  return undefined;
}

function normalize(path: string): string {
  const why = unsafePathReason(path);
  if (why) return path; // already reported by the config checks
  return posix.normalize(path).replace(/\/+$/, "");
}
