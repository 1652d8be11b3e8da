/**
 * Walks a stack's compose project across files: the entry files (`docker compose -f a -f b`), the
 * files they `include`, and the services they `extends` from other files.
 */
import { posix } from "node:path";
import type {
  AbsoluteMount,
  ComposeFileInfo,
  ComposeProblem,
  ComposeRef,
  ComposeService,
} from "./compose.ts";
import { mergeService, resolveExtends, serviceIn, serviceKey, serviceLabel } from "./composeMerge.ts";
import { parseComposeFileAt } from "./composeParse.ts";
import { joinRepoPath, normalizeRepoPath } from "./composePaths.ts";
import { type ComposeEnv, composeEnv } from "./dotenv.ts";

type Read = (repoPath: string) => string | undefined;
/** Parses one file with relative paths resolved against `baseDir`, interpolated with `env`. */
type Parse = (path: string, content: string, env: ComposeEnv, baseDir: string) => ComposeFileInfo;
type Exists = (repoPath: string) => boolean;

const parseAt: Parse = (path, content, env, baseDir) => parseComposeFileAt(path, content, baseDir, env);

/**
 * Where a follow-up problem (missing file, unknown service, a cycle) is reported: at the reference.
 * They are errors, since Compose refuses such a project; the reference itself is still recorded,
 * so the stack is marked changed when the file appears.
 */
interface Origin {
  file: string;
  line: number;
  col: number;
  key: string;
}

/** Position used for problems and refs about a whole file. */
const FILE_START = { line: 1, col: 1 } as const;

/**
 * Follows include/extends recursively from the stack's entry compose files, reading each compose file
 * through `read` (undefined when absent). Adds the `.env` beside the first entry file (kind "dotenv",
 * optional), which Compose reads for interpolation. Returns the union of everything found (refs
 * deduplicated by kind+path), with entry files' services merged by name (later files override
 * earlier ones) and included files' services added. An `include` or `extends` cycle is an error at
 * the reference closing it (and followed no further), as is a required `env_file` that `exists`
 * (default: `read` finds it) says is absent.
 *
 * Files are interpolated with the variables of `envFiles` (the stack's `--env-file`s) or, without
 * them, of that `.env`, both read through `read` as well; included projects add their own.
 */
export function collectComposeInputs(
  entryFiles: string[],
  read: Read,
  parse: Parse = parseAt,
  envFiles: readonly string[] = [],
  exists: Exists = (path) => read(path) !== undefined,
): ComposeFileInfo {
  const collector = new Collector(read, parse);
  collector.collect(entryFiles, envFiles);
  collector.checkEnvFiles(exists);
  return collector.result();
}

class Collector {
  readonly #read: Read;
  readonly #parse: Parse;
  readonly #refs = new Map<string, ComposeRef>();
  readonly #problems = new Map<string, ComposeProblem>();
  readonly #mounts = new Map<string, AbsoluteMount>();
  readonly #services = new Map<string, ComposeService>();
  /** Names of services that came from included files rather than entry files. */
  readonly #imported = new Set<string>();
  /** Parsed files by path and working directory; undefined when the file is absent. */
  readonly #parsed = new Map<string, ComposeFileInfo | undefined>();
  /** The first parse of each file, for looking up extended services. */
  readonly #byFile = new Map<string, ComposeFileInfo>();
  /** Whole files (path + working directory) absorbed, and extended services (path + service) followed. */
  readonly #visited = new Set<string>();
  /** Whole files (path + working directory) whose includes and extends were followed. */
  readonly #explored = new Set<string>();
  /** Files whose findings were all taken (`#absorb` without a service). */
  readonly #absorbedWhole = new WeakSet<ComposeFileInfo>();
  /** Each file's `extends.file` references by service. */
  readonly #extendsRefs = new WeakMap<ComposeFileInfo, Map<string, ComposeRef>>();
  /** Extended services (service keys) with their own bases filled in. */
  readonly #resolved = new Map<string, ComposeService>();
  #projectName: string | undefined;

  constructor(read: Read, parse: Parse) {
    this.#read = read;
    this.#parse = parse;
  }

  collect(entryFiles: string[], envFiles: readonly string[]): void {
    const entries = entryFiles.flatMap((file) => this.#entryPath(file));
    const first = entries[0];
    if (first === undefined) return;
    // Like `docker compose -f a -f b`: every entry file's paths are relative to the first file's directory.
    const projectDir = posix.dirname(first);
    const dotenv = joinRepoPath(projectDir, ".env") ?? ".env";
    // `--env-file` replaces the project's .env as the source of variables.
    const env = this.#env(envFiles.length > 0 ? envFiles : [dotenv]);
    const loaded = entries.map((file) => ({ file, info: this.#loadEntry(file, projectDir, env) }));
    this.#addRef({ kind: "dotenv", path: dotenv, from: first, ...FILE_START, optional: true });
    // Follow only after all entries are merged, so entry services take precedence over imported ones.
    for (const { file, info } of loaded) if (info) this.#explore(file, projectDir, info, [], env);
  }

  /** The variables of `files` (on top of `parent`'s, for an included project); parse problems are warnings. */
  #env(files: readonly string[], parent?: ComposeEnv): ComposeEnv {
    const texts = files.map((path) => ({ path, text: this.#read(path) }));
    const { env, problems } = composeEnv(texts, parent);
    for (const p of problems) {
      this.#addProblem({
        file: p.file,
        line: p.line,
        col: 1,
        key: "",
        message: p.message,
        severity: "warning",
      });
    }
    return env;
  }

  /** A required `env_file` that is absent fails every compose command: an error at its reference. */
  checkEnvFiles(exists: Exists): void {
    for (const ref of this.#refs.values()) {
      if (ref.kind !== "env_file" || ref.optional || exists(ref.path)) continue;
      this.#addProblem({
        file: ref.from,
        line: ref.line,
        col: ref.col,
        key: ref.service ? `services.${ref.service}.env_file` : "include",
        message: `env_file ${ref.path} not found (it is required; \`required: false\` makes it optional)`,
        severity: "error",
      });
    }
  }

  result(): ComposeFileInfo {
    const services = [...this.#services.values()].map((s) => resolveExtends(s, this.#byFile, this.#resolved));
    const info: ComposeFileInfo = {
      refs: [...this.#refs.values()],
      services,
      absoluteMounts: [...this.#mounts.values()],
      problems: [...this.#problems.values()],
    };
    if (this.#projectName !== undefined) info.projectName = this.#projectName;
    return info;
  }

  #entryPath(file: string): string[] {
    const path = normalizeRepoPath(file);
    if (path !== undefined) return [path];
    this.#addProblem({
      file,
      ...FILE_START,
      key: "",
      message: "compose file path is outside the repository",
      severity: "error",
    });
    return [];
  }

  #loadEntry(file: string, projectDir: string, env: ComposeEnv): ComposeFileInfo | undefined {
    this.#addRef({ kind: "compose", path: file, from: file, ...FILE_START });
    const info = this.#load(file, projectDir, env);
    this.#visited.add(fileKey(file, projectDir));
    if (!info) {
      this.#addProblem({
        file,
        ...FILE_START,
        key: "",
        message: "compose file not found",
        severity: "error",
      });
      return undefined;
    }
    this.#absorb(info);
    for (const service of info.services) {
      const earlier = this.#services.get(service.name);
      this.#services.set(service.name, earlier ? mergeService(earlier, service) : service);
    }
    if (info.projectName !== undefined) this.#projectName = info.projectName;
    return info;
  }

  #load(file: string, baseDir: string, env: ComposeEnv): ComposeFileInfo | undefined {
    const key = `${fileKey(file, baseDir)}\u0000${env.key}`;
    if (this.#parsed.has(key)) return this.#parsed.get(key);
    const content = this.#read(file);
    const info = content === undefined ? undefined : this.#parse(file, content, env, baseDir);
    this.#parsed.set(key, info);
    if (info && !this.#byFile.has(file)) this.#byFile.set(file, info);
    return info;
  }

  /**
   * Follows what a wholly absorbed file (entry or included) points to, once per (file, working
   * directory). `chain` is the include path that led here, for finding cycles.
   */
  #explore(
    file: string,
    baseDir: string,
    info: ComposeFileInfo,
    chain: readonly string[],
    env: ComposeEnv,
  ): void {
    const key = fileKey(file, baseDir);
    if (this.#explored.has(key)) return;
    this.#explored.add(key);
    const here = [...chain, file];
    for (const ref of info.refs) if (ref.kind === "include") this.#followInclude(ref, here, env);
    for (const service of info.services) {
      const start = serviceKey(file, service.name);
      if (!service.extends || this.#visited.has(start)) continue;
      this.#visited.add(start);
      this.#followExtends(file, info, service, start, env);
    }
  }

  #followInclude(ref: ComposeRef, chain: readonly string[], parentEnv: ComposeEnv): void {
    const origin = { file: ref.from, line: ref.line, col: ref.col, key: "include" };
    const loop = chain.indexOf(ref.path);
    if (loop >= 0) {
      this.#report(origin, `include cycle: ${[...chain.slice(loop), ref.path].join(" -> ")}`);
      return;
    }
    const baseDir = ref.projectDirectory ?? posix.dirname(ref.path);
    const key = fileKey(ref.path, baseDir);
    // The included project's env_file, else the .env of its directory; the includer's variables win.
    const env = this.#env(ref.envFiles ?? [joinRepoPath(baseDir, ".env") ?? ".env"], parentEnv);
    const info = this.#load(ref.path, baseDir, env);
    if (!this.#visited.has(key)) {
      this.#visited.add(key);
      if (!info) {
        this.#report(origin, `included compose file ${ref.path} not found`);
        return;
      }
      this.#absorb(info);
      this.#importServices(info, ref.path, origin);
    }
    // An entry file reached by an include is explored here, so a cycle through it is seen.
    if (info) this.#explore(ref.path, baseDir, info, chain, env);
  }

  /**
   * Compose imports included services and refuses one the including project defines itself. Among
   * included files they merge, since `include: [{path: [a.yaml, a.override.yaml]}]` overrides on purpose.
   */
  #importServices(info: ComposeFileInfo, file: string, origin: Origin): void {
    for (const service of info.services) {
      const earlier = this.#services.get(service.name);
      if (earlier && !this.#imported.has(service.name)) {
        this.#report(origin, `service "${service.name}" from ${file} is already defined`, "warning");
        continue;
      }
      this.#services.set(service.name, earlier ? mergeService(earlier, service) : service);
      this.#imported.add(service.name);
    }
  }

  /**
   * Walks the `extends` chain from `service` of `file` (a depth-first walk: `chain` holds the
   * services on the way here). Only the extended service is taken from another file (that is all
   * Compose uses), with its paths resolved against that file's directory; a base in the same file
   * was absorbed with it, or is absorbed now when the file itself was only extended from.
   */
  #followExtends(
    file: string,
    info: ComposeFileInfo,
    service: ComposeService,
    start: string,
    env: ComposeEnv,
  ): void {
    // A loop, not recursion: a chain of thousands of services must not overflow the stack.
    const chain = [start];
    const onChain = new Set(chain);
    for (let at = { file, info, service }; ; ) {
      const base = at.service.extends;
      if (!base) return;
      // At `extends.file` when written (what a missing file is about), else at `extends`.
      const ref = base.file === at.file ? undefined : this.#extendsRef(at.info, at.service.name);
      const origin = {
        file: at.file,
        line: ref?.line ?? base.line,
        col: ref?.col ?? base.col,
        key: `services.${at.service.name}.extends`,
      };
      const node = serviceKey(base.file, base.service);
      if (onChain.has(node)) {
        const path = [...chain.slice(chain.indexOf(node)), node].map(serviceLabel).join(" -> ");
        this.#report(origin, `extends cycle: ${path}`);
        return;
      }
      if (this.#visited.has(node)) return;
      this.#visited.add(node);
      const baseInfo = base.file === at.file ? at.info : this.#load(base.file, posix.dirname(base.file), env);
      if (!baseInfo) {
        this.#report(origin, `extended compose file ${base.file} not found`);
        return;
      }
      this.#absorb(baseInfo, base.service);
      const next = serviceIn(baseInfo, base.service);
      if (!next) {
        this.#report(origin, `service "${base.service}" not found in ${base.file}`);
        return;
      }
      chain.push(node);
      onChain.add(node);
      at = { file: base.file, info: baseInfo, service: next };
    }
  }

  /** The `extends.file` reference a service of `info` writes (indexed once per file). */
  #extendsRef(info: ComposeFileInfo, service: string): ComposeRef | undefined {
    let byService = this.#extendsRefs.get(info);
    if (!byService) {
      byService = new Map();
      for (const r of info.refs)
        if (r.kind === "extends" && r.service !== undefined && !byService.has(r.service))
          byService.set(r.service, r);
      this.#extendsRefs.set(info, byService);
    }
    return byService.get(service);
  }

  /** Takes over a file's findings; with `service`, only that service's (plus file-level problems). */
  #absorb(info: ComposeFileInfo, service?: string): void {
    // A file taken whole already holds every service's findings (same-file extends chains).
    if (this.#absorbedWhole.has(info)) return;
    if (service === undefined) this.#absorbedWhole.add(info);
    const mine = (s: string | undefined) => service === undefined || s === service;
    for (const ref of info.refs) if (mine(ref.service)) this.#addRef(ref);
    for (const mount of info.absoluteMounts) if (mine(mount.service)) this.#addMount(mount);
    for (const p of info.problems) {
      if (service === undefined || concernsService(p, service)) this.#addProblem(p);
    }
  }

  #addRef(ref: ComposeRef): void {
    const key = `${ref.kind}\u0000${ref.path}`;
    const earlier = this.#refs.get(key);
    if (!earlier) {
      this.#refs.set(key, { ...ref });
    } else if (earlier.optional && !ref.optional) {
      // Required anywhere means required.
      delete earlier.optional;
    }
  }

  #addMount(mount: AbsoluteMount): void {
    this.#mounts.set(`${mount.file}:${mount.line}:${mount.col}:${mount.source}`, mount);
  }

  #addProblem(p: ComposeProblem): void {
    this.#problems.set(`${p.file}:${p.line}:${p.col}:${p.key}:${p.message}`, p);
  }

  #report(origin: Origin, message: string, severity: ComposeProblem["severity"] = "error"): void {
    this.#addProblem({ ...origin, message, severity });
  }
}

function fileKey(file: string, baseDir: string): string {
  return `${file}\u0000${baseDir}`;
}

function concernsService(p: ComposeProblem, service: string): boolean {
  const prefix = `services.${service}`;
  return p.key === "" || p.key === prefix || p.key.startsWith(`${prefix}.`) || p.key.startsWith(`${prefix}[`);
}
