/**
 * Which stacks exist at a commit: directories under `discover.roots` holding a compose file, plus
 * explicit `stacks:` entries that add or override. Pure: (config, tree) -> stack definitions.
 */
import { posix } from "node:path";
import { formatKeyPath, type Problem } from "../config/problems.ts";
import { unsafePathReason } from "../config/repoConfig.ts";
import {
  COMPOSE_FILE_NAMES,
  CONFIG_PATH,
  type HostSelector,
  type RepoConfig,
  SAFE_NAME,
  type StackEntry,
} from "../config/repoConfigSchema.ts";
import type { YamlSource } from "../config/yamlSource.ts";
import { MODE_SYMLINK } from "../git/repo.ts";
import { compileGlob } from "../util/glob.ts";
import { resolveHooks, type StackHooks } from "./hooks.ts";
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
  /** Commands run on the target host around a deploy (detect/hooks.ts); absent when none. */
  hooks?: StackHooks;
  /**
   * Why this stack cannot deploy, when its definition is refused (no compose file, a symlinked
   * path, a directory or project name another stack has...); then `composeFiles` may be empty.
   */
  errors?: Problem[];
}

/** Compose merges `compose.override.yaml` into `compose.yaml` by itself; we pass files explicitly, so we add it. */
const OVERRIDE_OF: Record<string, string[]> = {
  "compose.yaml": ["compose.override.yaml", "compose.override.yml"],
  "compose.yml": ["compose.override.yaml", "compose.override.yml"],
  "docker-compose.yaml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
  "docker-compose.yml": ["docker-compose.override.yaml", "docker-compose.override.yml"],
};

/** A stack as found, before it is checked: discovered, configured, or both. */
interface Candidate {
  name: string;
  path: string;
  entry?: StackEntry;
  entryIndex?: number;
  /** Further directories discovered under the same name (only when no entry gives a path). */
  also?: string[];
}

/**
 * Where the problems of one candidate are reported: at `key` of its config entry, or with
 * `inConfig` at `key` of the whole config (a default it uses).
 */
type ProblemOf = (c: Candidate, key: PropertyKey[], message: string, inConfig?: boolean) => Problem;

/**
 * Every stack at a commit. A stack whose definition is refused is still returned, with its
 * `errors`: it is known (its changes are seen, its targets planned as skipped) but never
 * deployed. `problems` holds what belongs to no stack: discovery warnings, invalid directory names.
 */
export function resolveStacks(
  config: RepoConfig,
  index: PathIndex,
  source?: YamlSource,
  configFile = CONFIG_PATH,
): { stacks: StackDef[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const problemOf: ProblemOf = (c, key, message, inConfig) => {
    if (c.entryIndex !== undefined || inConfig) {
      const at = inConfig ? key : ["stacks", c.entryIndex as number, ...key];
      const pos = source?.positionOf(at) ?? { line: 0, col: 0 };
      return { file: configFile, ...pos, key: formatKeyPath(at), message, severity: "error" };
    }
    // A discovered stack has no config entry to point at: point at its compose file.
    const file = defaultComposeFiles(c.path, index)[0];
    const pos = file ? { line: 1, col: 1 } : { line: 0, col: 0 };
    return { file: file ?? c.path, ...pos, key: "", message, severity: "error" };
  };
  const candidates = candidatesOf(config, index, problems, (i, message) =>
    problems.push({
      file: configFile,
      ...(source?.positionOf(["stacks", i, "name"]) ?? { line: 0, col: 0 }),
      key: formatKeyPath(["stacks", i, "name"]),
      message,
      severity: "warning",
    }),
  );
  const stacks = candidates.map((c) => define(c, config, index, problemOf));
  const candidateOf = new Map(candidates.map((c) => [c.name, c]));
  const refuse = (def: StackDef, key: PropertyKey[], message: string) => {
    def.errors = [...(def.errors ?? []), problemOf(candidateOf.get(def.name) as Candidate, key, message)];
  };
  // Two stacks in one directory, or with one compose project name, would fight over the same
  // containers: refuse both, naming both directories.
  for (const [a, b] of collisions(stacks, (d) => d.path)) {
    const message = `stacks "${a.name}" and "${b.name}" share the directory ${a.path}`;
    refuse(a, ["path"], message);
    refuse(b, ["path"], message);
  }
  for (const [a, b] of collisions(stacks, (d) => d.projectName)) {
    const message = `stacks "${a.name}" (${a.path}) and "${b.name}" (${b.path}) have the same compose project name "${a.projectName}"; set project_name on one of them`;
    refuse(a, ["project_name"], message);
    refuse(b, ["project_name"], message);
  }
  return { stacks, problems };
}

/**
 * The enabled stacks by name, sorted: discovered directories, then `stacks:` entries adding or
 * overriding them. An entry with neither a path nor a discovered directory is ignored, with a
 * warning (`ignored(entry index, message)`): deleting a stack's directory must still plan its
 * removal (prune).
 */
function candidatesOf(
  config: RepoConfig,
  index: PathIndex,
  problems: Problem[],
  ignored: (entryIndex: number, message: string) => void,
): Candidate[] {
  // A directory an entry names by path is that entry's, whatever discovery would call it.
  const claimed = new Set(config.stacks.flatMap((e) => (e.path === undefined ? [] : [normalize(e.path)])));
  const candidates = new Map<string, Candidate>();
  for (const d of discover(config, index, claimed, problems)) candidates.set(d.name, d);
  config.stacks.forEach((entry, i) => {
    const found = candidates.get(entry.name);
    const path = entry.path ?? found?.path;
    if (path === undefined) {
      ignored(
        i,
        `stack "${entry.name}" has no path and no directory of that name under ${config.discover.roots.join(", ")}; ignored`,
      );
      return;
    }
    const also = entry.path === undefined ? found?.also : undefined;
    candidates.set(entry.name, {
      name: entry.name,
      path: normalize(path),
      entry,
      entryIndex: i,
      ...(also ? { also } : {}),
    });
  });
  return [...candidates.values()]
    .filter((c) => c.entry?.enabled !== false)
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * Compose's own project name for a directory or stack name (compose-go `NormalizeProjectName`):
 * lowercase, only `[a-z0-9_-]` kept, leading `_` and `-` dropped. `transfer.sh` -> `transfersh`.
 */
export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "")
    .replace(/^[_-]+/, "");
}

/** The definition of one stack, with `errors` when it is refused. */
function define(c: Candidate, config: RepoConfig, index: PathIndex, problemOf: ProblemOf): StackDef {
  const { name, path, entry } = c;
  const errors: Problem[] = [];
  const fail = (key: PropertyKey[], message: string) => errors.push(problemOf(c, key, message));
  if (c.also)
    fail(
      ["name"],
      `stack name "${name}" is discovered twice (${[path, ...c.also].join(" and ")}); add a stacks entry with another name and an explicit path for one of them`,
    );
  const { composeFiles, envFiles } = stackFiles(c, index, fail);
  let projectName = entry?.project_name;
  if (projectName === undefined) {
    projectName = normalizeProjectName(name);
    if (!projectName)
      fail(
        ["name"],
        `stack "${name}" in ${path}: no compose project name can be derived from "${name}"; set project_name`,
      );
  }
  const environment = entry?.environment ?? config.defaults.environment;
  const hooks = resolveHooks(entry?.hooks, config.defaults.hooks, index, (origin, key, message) =>
    origin === "stack"
      ? fail(["hooks", ...key], message)
      : errors.push(problemOf(c, ["defaults", "hooks", ...key], message, true)),
  );
  return {
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
    ...(hooks ? { hooks } : {}),
    ...(errors.length ? { errors } : {}),
  };
}

/**
 * A stack's compose files and `--env-file`s, each checked (inside the repo, no symlink, present).
 * Compose files are all or none: a refused stack's files are not read at all, since a symlink
 * could point anywhere. A missing env file stays listed (an absent input), so its appearance marks
 * the stack changed; both kinds fail every compose command, so they are errors now, not at deploy.
 */
function stackFiles(
  c: Candidate,
  index: PathIndex,
  fail: (key: PropertyKey[], message: string) => void,
): { composeFiles: string[]; envFiles: string[] } {
  const { name, path, entry } = c;
  const symlink = symlinkAncestor(path, index);
  if (symlink) {
    fail(
      ["path"],
      `stack "${name}": ${symlink} is a symlink; stack paths must be real directories inside the repository`,
    );
    return { composeFiles: [], envFiles: [] };
  }
  const check = (file: string, what: PropertyKey[]): "ok" | "missing" | "refused" => {
    if (file.startsWith("..")) fail(what, `stack "${name}": ${file} is outside the repository`);
    else if (index.tree.get(file)?.mode === MODE_SYMLINK || symlinkAncestor(posix.dirname(file), index))
      fail(what, `stack "${name}": ${file} is a symlink; it could point outside the repository`);
    else if (index.kind(file) !== "file") {
      fail(what, `stack "${name}": ${file} does not exist at this commit`);
      return "missing";
    } else return "ok";
    return "refused";
  };
  const composeFiles = entry?.compose_files
    ? entry.compose_files.map((f) => posix.join(path, f))
    : defaultComposeFiles(path, index);
  if (composeFiles.length === 0)
    fail(
      ["path"],
      `stack "${name}": no compose file in ${path} (looked for ${COMPOSE_FILE_NAMES.join(", ")})`,
    );
  const composeOk = composeFiles.map((f, j) => check(f, ["compose_files", j]) === "ok").every(Boolean);
  const envFiles = (entry?.env_files ?? [])
    .map((f) => posix.join(path, f))
    .filter((f, j) => check(f, ["env_files", j]) !== "refused");
  return { composeFiles: composeOk ? composeFiles : [], envFiles };
}

/** Pairs of stacks sharing a non-empty key, each later one paired with the first that has it. */
function collisions(stacks: readonly StackDef[], keyOf: (d: StackDef) => string): [StackDef, StackDef][] {
  const first = new Map<string, StackDef>();
  const out: [StackDef, StackDef][] = [];
  for (const def of stacks) {
    const key = keyOf(def);
    if (!key) continue;
    const earlier = first.get(key);
    if (earlier) out.push([earlier, def]);
    else first.set(key, def);
  }
  return out;
}

/**
 * Directories under `discover.roots` holding a compose file, by name. A directory starting with
 * "." is hidden from the roots' globs; one holding a compose file gets a warning instead of
 * silence (see ARCHITECTURE.md for why it is not discovered).
 */
function discover(
  config: RepoConfig,
  index: PathIndex,
  claimed: ReadonlySet<string>,
  problems: Problem[],
): Candidate[] {
  const isRoot = compileGlob(config.discover.roots, { dot: false });
  const isHiddenRoot = compileGlob(config.discover.roots, { dot: true });
  const dirsByName = new Map<string, string[]>();
  const seen = new Set<string>();
  const problem = (file: string, message: string, severity: Problem["severity"]) =>
    problems.push({ file, line: 0, col: 0, key: "", message, severity });
  for (const p of index.paths) {
    const base = posix.basename(p);
    if (!COMPOSE_FILE_NAMES.includes(base)) continue;
    const dir = posix.dirname(p);
    if (dir === "." || seen.has(dir) || claimed.has(dir)) continue;
    seen.add(dir);
    if (!isRoot(dir)) {
      if (isHiddenRoot(dir))
        problem(
          p,
          `${dir} holds ${base} but is not a stack: discovery skips directories starting with "."; to deploy it, add a stacks entry with a name and path: ${dir} (with enabled: false to keep it out and silence this)`,
          "warning",
        );
      continue;
    }
    const name = posix.basename(dir);
    if (!SAFE_NAME.test(name)) {
      problem(
        p,
        `directory name "${name}" is not a valid stack name (letters, digits, ".", "_", "-", starting with a letter or digit); rename it, or add a stacks entry with a valid name and path: ${dir}`,
        "error",
      );
      continue;
    }
    const dirs = dirsByName.get(name);
    if (dirs) dirs.push(dir);
    else dirsByName.set(name, [dir]);
  }
  return [...dirsByName].map(([name, [path, ...also]]) => ({
    name,
    path: path as string,
    ...(also.length ? { also } : {}),
  }));
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
