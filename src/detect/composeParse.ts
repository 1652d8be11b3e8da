/**
 * Extraction of the local files, services and problems of ONE compose file. Pure: the result depends
 * only on the arguments, so callers may cache it by blob id.
 */
import { posix } from "node:path";
import type { ComposeFileInfo, ComposeService, RefKind } from "./compose.ts";
import { interpolate, UNRESOLVED } from "./composeInterpolate.ts";
import {
  isHostPathSyntax,
  isWindowsPath,
  isWithin,
  joinRepoPath,
  normalizeRepoPath,
} from "./composePaths.ts";
import {
  addRef,
  type Ctx,
  check,
  checkItems,
  checkOptional,
  fileRef,
  listAt,
  mount,
  mountRef,
  problem,
  resolveTarget,
  type Target,
  target,
  unresolvedMount,
  warnNotTracked,
} from "./composeRefs.ts";
import {
  Build,
  EnvFileItem,
  Extends,
  FileResource,
  Healthcheck,
  IncludeItem,
  Mapping,
  StringOrList,
  Text,
  VolumeDefinition,
  VolumeItem,
} from "./composeSchema.ts";
import { type KeySeg, loadYaml, positionOf } from "./composeYaml.ts";
import { type ComposeEnv, NO_ENV } from "./dotenv.ts";

/** Project names end up in container and network names and in shell commands. */
const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** Compose's own rule; single-character names are valid, hence `*` rather than `+`. */
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The result depends on `env` too: cache it by the env's key as well. */
export function parseComposeFile(path: string, content: string, env: ComposeEnv = NO_ENV): ComposeFileInfo {
  return parseComposeFileAt(path, content, posix.dirname(path), env);
}

/**
 * Like {@link parseComposeFile}, with relative paths resolved against `baseDir` instead of the file's
 * own directory: Compose does that for override files (`-f a -f sub/b`: everything is relative to the
 * first file) and for included files with a `project_directory`.
 */
export function parseComposeFileAt(
  file: string,
  content: string,
  baseDir: string,
  env: ComposeEnv = NO_ENV,
): ComposeFileInfo {
  const info: ComposeFileInfo = { refs: [], services: [], absoluteMounts: [], problems: [] };
  const path = normalizeRepoPath(file) ?? file;
  try {
    const yaml = loadYaml(content);
    for (const issue of yaml.issues) info.problems.push({ file: path, key: "", ...issue });
    const ctx: Ctx = { file: path, baseDir, yaml, info, env: (name) => env.vars.get(name) };
    if (yaml.data !== undefined) extractDocument(ctx, yaml.data);
  } catch (err) {
    // The contract is "malformed input never throws"; this only guards against our own bugs.
    const message = `internal error reading compose file: ${err instanceof Error ? err.message : String(err)}`;
    info.problems.push({ file: path, line: 1, col: 1, key: "", message, severity: "error" });
  }
  return info;
}

function extractDocument(ctx: Ctx, data: unknown): void {
  if (data === null) {
    problem(ctx, [], "empty compose file");
    return;
  }
  const top = check(ctx, Mapping, data, []);
  if (!top) return;
  extractProjectName(ctx, top.name);
  extractIncludes(ctx, top.include);
  extractServices(ctx, top.services);
  extractFileResources(ctx, "configs", "config", top.configs);
  extractFileResources(ctx, "secrets", "secret", top.secrets);
  extractVolumeDefinitions(ctx, top.volumes);
}

// ---------------------------------------------------------------------------------------------------
// Top level

function extractProjectName(ctx: Ctx, raw: unknown): void {
  const written = checkOptional(ctx, Text, raw, ["name"]);
  if (written === undefined) return;
  const { value, unresolved } = interpolate(written, ctx.env);
  if (unresolved.length > 0) {
    problem(ctx, ["name"], `project name uses ${unresolved.join(", ")} without a default`, "warning");
  } else if (!PROJECT_NAME.test(value)) {
    problem(ctx, ["name"], `invalid project name "${value}": must match ${PROJECT_NAME.source}`);
  } else {
    ctx.info.projectName = value;
  }
}

function extractIncludes(ctx: Ctx, raw: unknown): void {
  for (const item of checkItems(ctx, IncludeItem, raw, ["include"])) extractInclude(ctx, item.value, item.at);
}

function extractInclude(ctx: Ctx, item: IncludeItem, at: KeySeg[]): void {
  const spec = typeof item === "string" ? { path: item } : item;
  const files = listAt(spec.path, typeof item === "string" ? at : [...at, "path"]);
  const targets = files.map((f) => ({ at: f.at, t: target(ctx, f.raw, f.at) }));
  const projectDirectory = includeProjectDirectory(ctx, spec, targets[0]?.t, at);
  const first = ctx.info.refs.length;
  for (const { at: fileAt, t } of targets) {
    if (t?.kind === "repo") addRef(ctx, "include", t.path, fileAt, { projectDirectory });
    else if (t) warnNotTracked(ctx, t, fileAt);
  }
  const includes = ctx.info.refs.slice(first);
  if (spec.env_file != null) {
    const envFiles = listAt(spec.env_file, [...at, "env_file"]).flatMap(
      (f) => fileRef(ctx, "env_file", f.raw, f.at) ?? [],
    );
    // The included project is interpolated with these (see composeCollect.ts).
    for (const ref of includes) ref.envFiles = envFiles;
  } else if (projectDirectory !== undefined) {
    // Without env_file, Compose interpolates the included project with the .env of its directory.
    addRef(ctx, "dotenv", joinRepoPath(projectDirectory, ".env") ?? ".env", at, { optional: true });
  }
}

function includeProjectDirectory(
  ctx: Ctx,
  spec: { project_directory?: string | null },
  first: Target | undefined,
  at: KeySeg[],
): string | undefined {
  if (spec.project_directory == null) return first?.kind === "repo" ? posix.dirname(first.path) : undefined;
  const dirAt = [...at, "project_directory"];
  const t = target(ctx, spec.project_directory, dirAt);
  if (t !== undefined && t.kind !== "repo") warnNotTracked(ctx, t, dirAt);
  return t?.kind === "repo" ? t.path : undefined;
}

function extractFileResources(ctx: Ctx, section: "configs" | "secrets", kind: RefKind, raw: unknown): void {
  const defs = checkOptional(ctx, Mapping, raw, [section]) ?? {};
  for (const [name, def] of Object.entries(defs)) {
    const file = check(ctx, FileResource, def, [section, name])?.file;
    if (file == null) continue; // environment/content/external resources have no local file
    const at = [section, name, "file"];
    // Compose bind-mounts these files into containers, so a host path is policed like a bind mount.
    mount(ctx, kind, file, at, "");
  }
}

/** Named volumes of the local driver with `o: bind` are bind mounts of `device` in disguise. */
function extractVolumeDefinitions(ctx: Ctx, raw: unknown): void {
  const defs = checkOptional(ctx, Mapping, raw, ["volumes"]) ?? {};
  for (const [name, def] of Object.entries(defs)) {
    const volume = check(ctx, VolumeDefinition, def, ["volumes", name]);
    const opts = volume?.driver_opts;
    if (!opts || (volume.driver ?? "local") !== "local" || !isBindOption(opts.o)) continue;
    if (typeof opts.device !== "string") continue;
    const at = ["volumes", name, "driver_opts", "device"];
    mount(ctx, "bind_mount", opts.device, at, "");
  }
}

function isBindOption(o: unknown): boolean {
  return typeof o === "string" && o.split(",").some((opt) => opt.trim() === "bind" || opt.trim() === "rbind");
}

// ---------------------------------------------------------------------------------------------------
// Services

function extractServices(ctx: Ctx, raw: unknown): void {
  const services = checkOptional(ctx, Mapping, raw, ["services"]) ?? {};
  for (const [name, def] of Object.entries(services)) extractService(ctx, name, def);
}

function extractService(ctx: Ctx, name: string, raw: unknown): void {
  const at = ["services", name];
  const validName = SERVICE_NAME.test(name);
  if (!validName) {
    problem(ctx, at, `invalid service name "${name}": must match ${SERVICE_NAME.source}`, "error", "key");
  }
  const def = check(ctx, Mapping, raw, at);
  if (!def) return;
  extractEnvFiles(ctx, name, def.env_file);
  extractVolumes(ctx, name, def.volumes);
  const service: ComposeService = { name, healthcheck: extractHealthcheck(ctx, name, def.healthcheck) };
  const image = checkOptional(ctx, Text, def.image, [...at, "image"]);
  const build = extractBuild(ctx, name, def.build);
  const base = extractExtends(ctx, name, def.extends);
  if (image !== undefined) service.image = image;
  if (build !== undefined) service.build = build;
  if (base !== undefined) service.extends = base;
  // Refs of a badly named service are still recorded (they are inputs either way), but the service
  // itself is withheld: later code passes service names to shells.
  if (validName) ctx.info.services.push(service);
}

function extractEnvFiles(ctx: Ctx, service: string, raw: unknown): void {
  const at = ["services", service, "env_file"];
  const written = checkOptional(ctx, StringOrList, raw, at);
  if (typeof written === "string") {
    fileRef(ctx, "env_file", written, at, { service });
    return;
  }
  for (const item of checkItems(ctx, EnvFileItem, written, at)) {
    if (typeof item.value === "string") {
      fileRef(ctx, "env_file", item.value, item.at, { service });
    } else {
      const optional = item.value.required === false;
      fileRef(ctx, "env_file", item.value.path, [...item.at, "path"], { service, optional });
    }
  }
}

function extractVolumes(ctx: Ctx, service: string, raw: unknown): void {
  for (const item of checkItems(ctx, VolumeItem, raw, ["services", service, "volumes"])) {
    if (typeof item.value === "string") {
      extractShortVolume(ctx, service, item.value, item.at);
    } else if (item.value.type === "bind" && item.value.source != null) {
      const at = [...item.at, "source"];
      mount(ctx, "bind_mount", item.value.source, at, service);
    }
  }
}

/** `SOURCE:TARGET[:MODE]`; interpolated first, because defaults may contain colons. */
function extractShortVolume(ctx: Ctx, service: string, spec: string, at: KeySeg[]): void {
  const { value, unresolved } = interpolate(spec, ctx.env);
  const source = shortVolumeSource(value);
  if (source === undefined) return; // anonymous volume: only a container path
  if (source.includes(UNRESOLVED)) {
    // `${X}:/data` may name a volume or any host path; `data_${X}:/data` is a volume whatever X is.
    if (source.startsWith(UNRESOLVED) || isHostPathSyntax(source)) {
      unresolvedMount(ctx, writtenSource(spec), unresolved, at, service);
    }
    return;
  }
  if (!isHostPathSyntax(source)) return; // named volume
  mountRef(ctx, "bind_mount", resolveTarget(ctx, source, at, ctx.baseDir), at, service);
}

/** The source part of a short volume as written: up to the first `:` outside `${...}`. */
function writtenSource(spec: string): string {
  let depth = 0;
  for (let i = 0; i < spec.length; i++) {
    if (spec[i] === "$" && spec[i + 1] === "{") {
      depth++;
      i++;
    } else if (spec[i] === "}" && depth > 0) depth--;
    else if (spec[i] === ":" && depth === 0) return spec.slice(0, i);
  }
  return spec;
}

function shortVolumeSource(spec: string): string | undefined {
  // A Windows drive letter's colon is part of the source, not a separator.
  const sep = spec.indexOf(":", isWindowsPath(spec) ? 2 : 0);
  return sep < 0 ? undefined : spec.slice(0, sep);
}

function extractHealthcheck(ctx: Ctx, service: string, raw: unknown): boolean {
  const healthcheck = checkOptional(ctx, Healthcheck, raw, ["services", service, "healthcheck"]);
  if (!healthcheck || healthcheck.disable === true || healthcheck.test == null) return false;
  const test = typeof healthcheck.test === "string" ? [healthcheck.test] : healthcheck.test;
  return test.length > 0 && test[0] !== "" && test[0] !== "NONE";
}

function extractExtends(ctx: Ctx, service: string, raw: unknown): ComposeService["extends"] {
  const at = ["services", service, "extends"];
  const spec = checkOptional(ctx, Extends, raw, at);
  if (spec === undefined) return undefined;
  const pos = positionOf(ctx.yaml, at);
  if (typeof spec === "string") return { service: spec, file: ctx.file, ...pos };
  if (spec.file == null) return { service: spec.service, file: ctx.file, ...pos };
  const file = fileRef(ctx, "extends", spec.file, [...at, "file"], { service });
  return file === undefined ? undefined : { service: spec.service, file, ...pos };
}

// ---------------------------------------------------------------------------------------------------
// Build

type ServiceBuild = NonNullable<ComposeService["build"]>;
type BuildSpec = Exclude<Build, string>;

function extractBuild(ctx: Ctx, service: string, raw: unknown): ServiceBuild | undefined {
  const at = ["services", service, "build"];
  const written = checkOptional(ctx, Build, raw, at);
  if (written === undefined) return undefined;
  const spec: BuildSpec = typeof written === "string" ? { context: written } : written;
  const contextAt = typeof written === "object" && written.context != null ? [...at, "context"] : at;
  const context = buildContext(ctx, service, spec.context ?? ".", contextAt);
  const build: ServiceBuild = { context: context.value, local: context.local };
  const dockerfile = buildDockerfile(ctx, service, spec, context, at);
  const args = buildArgs(spec.args);
  if (dockerfile !== undefined) build.dockerfile = dockerfile;
  if (args !== undefined) build.args = args;
  if (spec.target != null) build.target = spec.target;
  if (spec.network != null) build.network = spec.network;
  if (spec.dockerfile_inline != null) build.inline = true;
  extractAdditionalContexts(ctx, service, spec.additional_contexts, [...at, "additional_contexts"]);
  return build;
}

interface Context {
  /** Repo-relative directory when local; otherwise as written (URL, host path, unresolved). */
  value: string;
  local: boolean;
}

function buildContext(ctx: Ctx, service: string, raw: string, at: KeySeg[]): Context {
  const t = target(ctx, raw, at);
  if (t === undefined) return { value: raw, local: false };
  if (t.kind === "remote") return { value: t.value, local: false };
  if (t.kind === "host") {
    warnNotTracked(ctx, t, at);
    return { value: t.value, local: false };
  }
  addRef(ctx, "build_context", t.path, at, { service });
  return { value: t.path, local: true };
}

function buildDockerfile(ctx: Ctx, service: string, spec: BuildSpec, context: Context, at: KeySeg[]) {
  if (spec.dockerfile_inline != null) return undefined; // the Dockerfile is the YAML itself
  // In a remote context the Dockerfile lives in the fetched tree; keep it as written.
  if (!context.local) return spec.dockerfile ?? undefined;
  const dockerfileAt = spec.dockerfile != null ? [...at, "dockerfile"] : at;
  const path = fileRef(ctx, "dockerfile", spec.dockerfile ?? "Dockerfile", dockerfileAt, {
    service,
    base: context.value,
  });
  // BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile; inside the context it is already covered.
  if (path !== undefined && !isWithin(path, context.value)) {
    addRef(ctx, "dockerfile", `${path}.dockerignore`, dockerfileAt, { service, optional: true });
  }
  return path;
}

/** Args without a value (`- KEY`, `KEY:`) come from the deploy environment and are left out. */
function buildArgs(args: BuildSpec["args"]): Record<string, string> | undefined {
  if (args == null) return undefined;
  const pairs = Array.isArray(args)
    ? args.flatMap((a) =>
        a.includes("=") ? [[a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]] : [],
      )
    : Object.entries(args).flatMap(([k, v]) => (v === null ? [] : [[k, String(v)]]));
  // fromEntries defines own properties, so an arg named __proto__ cannot touch the prototype.
  return Object.fromEntries(pairs);
}

function extractAdditionalContexts(
  ctx: Ctx,
  service: string,
  raw: BuildSpec["additional_contexts"],
  at: KeySeg[],
) {
  if (raw == null) return;
  const entries = Array.isArray(raw)
    ? raw.map((entry, i) => ({ value: entry.slice(entry.indexOf("=") + 1), at: [...at, i] }))
    : Object.entries(raw).map(([name, value]) => ({ value, at: [...at, name] }));
  for (const entry of entries) {
    // `service:<name>` points at another service's image, not at a directory.
    if (entry.value.startsWith("service:")) continue;
    const t = target(ctx, entry.value, entry.at);
    if (t?.kind === "repo") addRef(ctx, "build_context", t.path, entry.at, { service });
    else if (t?.kind === "host") warnNotTracked(ctx, t, entry.at);
  }
}
