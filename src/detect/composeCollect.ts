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
import { parseComposeFile, parseComposeFileAt } from "./composeParse.ts";
import { joinRepoPath, normalizeRepoPath } from "./composePaths.ts";

type Read = (repoPath: string) => string | undefined;
type Parse = (path: string, content: string) => ComposeFileInfo;

/**
 * Where a follow-up problem (missing file, unknown service) is reported. These are warnings: the
 * reference itself is recorded, so the stack is marked changed when the file appears, and nothing
 * below an absent file can be missed. Compose itself will refuse such a project at deploy time.
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
 * optional), which Compose reads for interpolation. Cycles are safe. Returns the union of everything
 * found (refs deduplicated by kind+path), with entry files' services merged by name (later files
 * override earlier ones) and included files' services added.
 */
export function collectComposeInputs(
  entryFiles: string[],
  read: Read,
  parse: Parse = parseComposeFile,
): ComposeFileInfo {
  const collector = new Collector(read, parse);
  collector.collect(entryFiles);
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
  /** Whole files (path + working directory) and extended services (path + service) already followed. */
  readonly #visited = new Set<string>();
  #projectName: string | undefined;

  constructor(read: Read, parse: Parse) {
    this.#read = read;
    this.#parse = parse;
  }

  collect(entryFiles: string[]): void {
    const entries = entryFiles.flatMap((file) => this.#entryPath(file));
    const first = entries[0];
    if (first === undefined) return;
    // Like `docker compose -f a -f b`: every entry file's paths are relative to the first file's directory.
    const projectDir = posix.dirname(first);
    const loaded = entries.map((file) => ({ file, info: this.#loadEntry(file, projectDir) }));
    const dotenv = joinRepoPath(projectDir, ".env") ?? ".env";
    this.#addRef({ kind: "dotenv", path: dotenv, from: first, ...FILE_START, optional: true });
    // Follow only after all entries are merged, so entry services take precedence over imported ones.
    for (const { file, info } of loaded) if (info) this.#followFile(file, info);
  }

  result(): ComposeFileInfo {
    const services = [...this.#services.values()].map((s) => this.#resolveExtends(s, new Set()));
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

  #loadEntry(file: string, projectDir: string): ComposeFileInfo | undefined {
    this.#addRef({ kind: "compose", path: file, from: file, ...FILE_START });
    const info = this.#load(file, projectDir);
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

  #load(file: string, baseDir: string): ComposeFileInfo | undefined {
    const key = fileKey(file, baseDir);
    if (this.#parsed.has(key)) return this.#parsed.get(key);
    const content = this.#read(file);
    const info = content === undefined ? undefined : this.#parseAt(file, content, baseDir);
    this.#parsed.set(key, info);
    if (info && !this.#byFile.has(file)) this.#byFile.set(file, info);
    return info;
  }

  #parseAt(file: string, content: string, baseDir: string): ComposeFileInfo {
    // The injected parser (and the cache behind it) covers files resolved against their own directory;
    // a rebased file's result also depends on baseDir, so it is parsed here.
    if (baseDir === posix.dirname(file)) return this.#parse(file, content);
    return parseComposeFileAt(file, content, baseDir);
  }

  /** Follows what a wholly absorbed file (entry or included) points to. */
  #followFile(file: string, info: ComposeFileInfo): void {
    for (const ref of info.refs) if (ref.kind === "include") this.#followInclude(ref);
    for (const service of info.services) {
      // Same-file bases were absorbed with the file itself.
      if (service.extends && service.extends.file !== file) this.#followExtends(service, info, file);
    }
  }

  #followInclude(ref: ComposeRef): void {
    const baseDir = ref.projectDirectory ?? posix.dirname(ref.path);
    const key = fileKey(ref.path, baseDir);
    if (this.#visited.has(key)) return;
    this.#visited.add(key);
    const origin = { file: ref.from, line: ref.line, col: ref.col, key: "include" };
    const info = this.#load(ref.path, baseDir);
    if (!info) {
      this.#report(origin, `included compose file ${ref.path} not found`);
      return;
    }
    this.#absorb(info);
    this.#importServices(info, ref.path, origin);
    this.#followFile(ref.path, info);
  }

  /**
   * Compose imports included services and refuses one the including project defines itself. Among
   * included files they merge, since `include: [{path: [a.yaml, a.override.yaml]}]` overrides on purpose.
   */
  #importServices(info: ComposeFileInfo, file: string, origin: Origin): void {
    for (const service of info.services) {
      const earlier = this.#services.get(service.name);
      if (earlier && !this.#imported.has(service.name)) {
        this.#report(origin, `service "${service.name}" from ${file} is already defined`);
        continue;
      }
      this.#services.set(service.name, earlier ? mergeService(earlier, service) : service);
      this.#imported.add(service.name);
    }
  }

  #followExtends(service: ComposeService, info: ComposeFileInfo, file: string): void {
    const base = service.extends;
    if (!base) return;
    const ref = indexOf(info).extendsRefs.get(service.name);
    const origin = {
      file,
      line: ref?.line ?? 1,
      col: ref?.col ?? 1,
      key: `services.${service.name}.extends`,
    };
    this.#followExtendedService(base.file, base.service, origin);
  }

  /**
   * Only the extended service is taken from its file (that is all Compose uses), with its paths
   * resolved against that file's directory, then its own `extends` is followed in turn.
   */
  #followExtendedService(file: string, name: string, origin: Origin): void {
    const key = `${file}\u0000#${name}`;
    if (this.#visited.has(key)) return;
    this.#visited.add(key);
    const info = this.#load(file, posix.dirname(file));
    if (!info) {
      this.#report(origin, `extended compose file ${file} not found`);
      return;
    }
    this.#absorb(info, name);
    const service = indexOf(info).services.get(name);
    if (!service) {
      this.#report(origin, `service "${name}" not found in ${file}`);
      return;
    }
    this.#followExtends(service, info, file);
  }

  /** Takes over a file's findings; with `service`, only that service's (plus file-level problems). */
  #absorb(info: ComposeFileInfo, service?: string): void {
    if (service === undefined) {
      for (const ref of info.refs) this.#addRef(ref);
      for (const mount of info.absoluteMounts) this.#addMount(mount);
      for (const p of info.problems) this.#addProblem(p);
      return;
    }
    // Through the file's index: a file extended for each of its N services is not read N times whole.
    const own = indexOf(info).byService.get(service);
    for (const ref of own?.refs ?? []) this.#addRef(ref);
    for (const mount of own?.mounts ?? []) this.#addMount(mount);
    for (const i of mergeSorted(indexOf(info).fileProblems, own?.problems ?? [])) {
      this.#addProblem(info.problems[i] as ComposeProblem);
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

  #report(origin: Origin, message: string): void {
    this.#addProblem({ ...origin, message, severity: "warning" });
  }

  /** Fills what a service leaves out from the service it extends (which wins nothing it sets itself). */
  #resolveExtends(service: ComposeService, seen: Set<string>): ComposeService {
    const base = service.extends;
    if (!base || seen.has(`${base.file}#${base.service}`)) return service;
    seen.add(`${base.file}#${base.service}`);
    const file = this.#byFile.get(base.file);
    const found = file && indexOf(file).services.get(base.service);
    return found ? mergeService(this.#resolveExtends(found, seen), service) : service;
  }
}

function fileKey(file: string, baseDir: string): string {
  return `${file}\u0000${baseDir}`;
}

/** A parsed file's services, extends refs, and refs, mounts and problems by service, found once. */
interface FileIndex {
  services: Map<string, ComposeService>;
  extendsRefs: Map<string, ComposeRef>;
  byService: Map<string, { refs: ComposeRef[]; mounts: AbsoluteMount[]; problems: number[] }>;
  /** Indexes into `problems` of those about the whole file (they concern every service). */
  fileProblems: number[];
}
const indexes = new WeakMap<ComposeFileInfo, FileIndex>();

function indexOf(info: ComposeFileInfo): FileIndex {
  let index = indexes.get(info);
  if (index) return index;
  index = { services: new Map(), extendsRefs: new Map(), byService: new Map(), fileProblems: [] };
  const { services, extendsRefs, byService, fileProblems } = index;
  const of = (name: string) => {
    const own = byService.get(name) ?? { refs: [], mounts: [], problems: [] };
    byService.set(name, own);
    return own;
  };
  for (const s of info.services) if (!services.has(s.name)) services.set(s.name, s);
  for (const ref of info.refs) {
    if (ref.service === undefined) continue;
    of(ref.service).refs.push(ref);
    if (ref.kind === "extends" && !extendsRefs.has(ref.service)) extendsRefs.set(ref.service, ref);
  }
  for (const mount of info.absoluteMounts) of(mount.service).mounts.push(mount);
  info.problems.forEach((p, i) => {
    if (p.key === "") fileProblems.push(i);
    else for (const name of servicesConcerned(p.key)) of(name).problems.push(i);
  });
  indexes.set(info, index);
  return index;
}

/**
 * The service names a problem's key path may be about: `services.a.b[0]` concerns services `a`,
 * `a.b` and `a.b[0]`... (names may hold dots), as a prefix test per service would find.
 */
function servicesConcerned(key: string): string[] {
  const prefix = "services.";
  if (!key.startsWith(prefix)) return [];
  const names: string[] = [];
  for (let i = prefix.length + 1; i <= key.length; i++) {
    if (i === key.length || key[i] === "." || key[i] === "[") names.push(key.slice(prefix.length, i));
  }
  return names;
}

/** Two ascending lists of indexes as one, in order. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i] as number) < (b[j] as number))) out.push(a[i++] as number);
    else out.push(b[j++] as number);
  }
  return out;
}

/**
 * `over` on top of `base`, field by field, like Compose's merge of the parts Stackpilot keeps. A later
 * healthcheck cannot switch off an earlier one here: the boolean does not say whether it was written.
 */
function mergeService(base: ComposeService, over: ComposeService): ComposeService {
  const merged: ComposeService = { name: over.name, healthcheck: base.healthcheck || over.healthcheck };
  const image = over.image ?? base.image;
  const build = mergeBuild(base.build, over.build);
  const extendsRef = over.extends ?? base.extends;
  if (image !== undefined) merged.image = image;
  if (build !== undefined) merged.build = build;
  if (extendsRef !== undefined) merged.extends = extendsRef;
  return merged;
}

function mergeBuild(base: ComposeService["build"], over: ComposeService["build"]): ComposeService["build"] {
  if (!base || !over) return over ?? base;
  const merged: NonNullable<ComposeService["build"]> = { context: over.context, local: over.local };
  const dockerfile = over.dockerfile ?? base.dockerfile;
  const target = over.target ?? base.target;
  const network = over.network ?? base.network;
  if (dockerfile !== undefined) merged.dockerfile = dockerfile;
  if (base.args || over.args) merged.args = { ...base.args, ...over.args };
  if (target !== undefined) merged.target = target;
  if (network !== undefined) merged.network = network;
  if (over.inline || base.inline) merged.inline = true;
  return merged;
}
