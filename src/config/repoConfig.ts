/**
 * Load and check `.github/stackpilot.yml`. Returns every problem with its position; callers run
 * nothing when any problem is an error.
 */
import { posix } from "node:path";
import { formatKeyPath, type Problem } from "./problems.ts";
import { procedureProblems } from "./procedureChecks.ts";
import {
  CONFIG_PATH,
  type HooksConfig,
  type RepoConfig,
  RepoConfigSchema,
  sourcePath,
} from "./repoConfigSchema.ts";
import { knownKeysOf, parseYamlSource, validateYaml, type YamlSource } from "./yamlSource.ts";

export interface LoadedRepoConfig {
  config: RepoConfig;
  problems: Problem[];
  /** Positions for later checks (e.g. a stack path that turns out to be a symlink). */
  source?: YamlSource;
}

/** `text` undefined means the repo has no config file: defaults apply. */
export function loadRepoConfig(text: string | undefined, file = CONFIG_PATH): LoadedRepoConfig {
  const defaults = RepoConfigSchema.parse({});
  if (text === undefined) return { config: defaults, problems: [] };
  const source = parseYamlSource(file, text);
  if (source.value === undefined) return { config: defaults, problems: source.problems, source };
  const { data, problems } = validateYaml(source, RepoConfigSchema, (path) =>
    knownKeysOf(RepoConfigSchema, path),
  );
  const all = [...source.problems, ...problems];
  if (!data) return { config: defaults, problems: all, source };
  all.push(...checkSemantics(data, source));
  return { config: data, problems: all, source };
}

function checkSemantics(config: RepoConfig, src: YamlSource): Problem[] {
  const problems: Problem[] = [];
  const error = (path: PropertyKey[], message: string): void => {
    problems.push({
      file: src.file,
      ...src.positionOf(path),
      key: formatKeyPath(path),
      message,
      severity: "error",
    });
  };

  const seen = new Map<string, number>();
  config.stacks.forEach((stack, i) => {
    const first = seen.get(stack.name);
    if (first !== undefined)
      error(["stacks", i, "name"], `duplicate stack name "${stack.name}" (first at stacks[${first}])`);
    else seen.set(stack.name, i);
    if (stack.environment && !config.environments[stack.environment]) {
      error(["stacks", i, "environment"], unknownEnv(stack.environment, config));
    }
    if (stack.path !== undefined) checkPath(stack.path, ["stacks", i, "path"]);
    for (const [j, p] of (stack.watch ?? []).entries()) checkPath(p, ["stacks", i, "watch", j]);
    checkHookScripts(stack.hooks, ["stacks", i, "hooks"]);
    // compose_files/env_files are stack-relative and may use `..` to reach shared files; whether
    // they escape the repo is checked once the stack directory is known (see detect/stacks.ts).
    for (const key of ["compose_files", "env_files"] as const) {
      stack[key]?.forEach((p, j) => {
        const why = unsafePathReason(p);
        if (why && !why.includes('".."')) error(["stacks", i, key, j], why);
      });
    }
  });
  for (const [i, r] of config.discover.roots.entries()) checkPath(r, ["discover", "roots", i]);
  checkHookScripts(config.defaults.hooks, ["defaults", "hooks"]);
  if (config.defaults.environment && !config.environments[config.defaults.environment]) {
    error(["defaults", "environment"], unknownEnv(config.defaults.environment, config));
  }
  for (const p of procedureProblems(config.procedures)) error(p.path, p.message);
  checkSources(config, error);
  return problems;

  function checkPath(p: string, path: PropertyKey[]) {
    const why = unsafePathReason(p);
    if (why) error(path, why);
  }

  /** A hook script is a repo-relative path; detect/hooks.ts checks it is a file, no symlink, executable. */
  function checkHookScripts(hooks: HooksConfig | undefined, at: PropertyKey[]) {
    for (const [name, hook] of Object.entries(hooks ?? {}))
      if (hook?.script !== undefined) checkPath(hook.script, [...at, name, "script"]);
  }
}

/**
 * A source's path must stay inside the repository, away from what Stackpilot reads itself
 * (`.github`, `.git`), and apart from every other source's. Whether the repository has files
 * there is known at a commit only (git/mounts.ts).
 */
function checkSources(config: RepoConfig, error: (path: PropertyKey[], message: string) => void): void {
  const taken: [string, string][] = [];
  for (const [name, source] of Object.entries(config.sources)) {
    const at = source.path === undefined ? ["sources", name] : ["sources", name, "path"];
    const path = sourcePath(name, source);
    const why = unsafePathReason(path);
    if (why) {
      error(at, why);
      continue;
    }
    const parts = posix.normalize(path).split("/");
    if (path === "" || parts[0] === "." || parts.includes(".git") || parts[0] === ".github") {
      error(
        at,
        `source path "${path}" is not allowed: a source needs a directory of its own, outside .github and .git`,
      );
      continue;
    }
    const other = taken.find(([, p]) => p === path || p.startsWith(`${path}/`) || path.startsWith(`${p}/`));
    if (other) error(at, `source path "${path}" overlaps source ${other[0]} at "${other[1]}"`);
    taken.push([name, path]);
  }
}

/** Repo paths must stay inside the repository: no absolute paths, no `..` escaping the root. */
export function unsafePathReason(p: string): string | undefined {
  if (p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p))
    return `absolute path "${p}": paths are relative to the repository`;
  if (p.includes("\\")) return `path "${p}" uses "\\": use "/"`;
  if (p.split("/").includes("..") || posix.normalize(p).startsWith("..")) {
    return `path "${p}" uses ".." to leave its directory: paths must stay inside the repository`;
  }
  return undefined;
}

function unknownEnv(name: string, config: RepoConfig): string {
  const known = Object.keys(config.environments);
  return `unknown environment "${name}"${known.length ? ` (defined: ${known.join(", ")})` : " (no environments are defined)"}`;
}
