/**
 * The state of one compose file's parse and the steps every section shares: problems at a key
 * path, schema checks, and what a written path becomes (a ref to a repository file, a host path to
 * police like a bind mount, or a warning).
 */
import type { z } from "zod";
import type { AbsoluteMount, ComposeFileInfo, ComposeProblem, ComposeRef, RefKind } from "./compose.ts";
import { type EnvLookup, interpolate } from "./composeInterpolate.ts";
import { classifyPath, joinRepoPath } from "./composePaths.ts";
import { List, shapeIssues } from "./composeSchema.ts";
import { type KeySeg, keyPathString, type LoadedYaml, positionOf } from "./composeYaml.ts";

export interface Ctx {
  /** Repo-relative path of the compose file. */
  file: string;
  /** Repo-relative directory relative paths resolve against. */
  baseDir: string;
  yaml: LoadedYaml;
  info: ComposeFileInfo;
  /** The project's variables (dotenv.ts). */
  env: EnvLookup;
}

/** Where a written path points once interpolated. */
export type Target =
  | { kind: "repo"; path: string }
  | { kind: "host"; value: string }
  | { kind: "remote"; value: string };

export interface RefOptions {
  service?: string;
  optional?: boolean;
  projectDirectory?: string;
  /** Directory to resolve against instead of the file's base (a Dockerfile is relative to its context). */
  base?: string;
}

// ---------------------------------------------------------------------------------------------------
// Reporting helpers

export function problem(
  ctx: Ctx,
  at: readonly KeySeg[],
  message: string,
  severity: ComposeProblem["severity"] = "error",
  position: "value" | "key" = "value",
): void {
  const pos = positionOf(ctx.yaml, at, position);
  ctx.info.problems.push({ file: ctx.file, ...pos, key: keyPathString(at), message, severity });
}

/** Validates `value` (found at `at`) and reports every shape issue at its own position. */
export function check<S extends z.ZodType>(
  ctx: Ctx,
  schema: S,
  value: unknown,
  at: readonly KeySeg[],
): z.output<S> | undefined {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  for (const issue of shapeIssues(result.error.issues, value)) {
    problem(ctx, [...at, ...issue.path], issue.message);
  }
  return undefined;
}

/** YAML `key:` with no value means "not set" for every optional key Stackpilot reads. */
export function checkOptional<S extends z.ZodType>(
  ctx: Ctx,
  schema: S,
  value: unknown,
  at: readonly KeySeg[],
): z.output<S> | undefined {
  return value === undefined || value === null ? undefined : check(ctx, schema, value, at);
}

/** Validates a list item by item, so one malformed entry does not hide the others. */
export function checkItems<S extends z.ZodType>(
  ctx: Ctx,
  schema: S,
  value: unknown,
  at: readonly KeySeg[],
): { value: z.output<S>; at: KeySeg[] }[] {
  const list = checkOptional(ctx, List, value, at) ?? [];
  return list.flatMap((item, i) => {
    const itemAt = [...at, i];
    const checked = check(ctx, schema, item, itemAt);
    return checked === undefined ? [] : [{ value: checked, at: itemAt }];
  });
}

export function addRef(
  ctx: Ctx,
  kind: RefKind,
  path: string,
  at: readonly KeySeg[],
  opts: RefOptions = {},
): void {
  const ref: ComposeRef = { kind, path, from: ctx.file, ...positionOf(ctx.yaml, at) };
  if (opts.service !== undefined) ref.service = opts.service;
  if (opts.optional) ref.optional = true;
  if (opts.projectDirectory !== undefined) ref.projectDirectory = opts.projectDirectory;
  ctx.info.refs.push(ref);
}

export function addAbsoluteMount(
  ctx: Ctx,
  source: string,
  at: readonly KeySeg[],
  service: string,
  unresolved?: string[],
  via?: "env_file",
): void {
  const mount: AbsoluteMount = { file: ctx.file, ...positionOf(ctx.yaml, at), service, source };
  if (unresolved) mount.unresolved = unresolved;
  if (via) mount.via = via;
  ctx.info.absoluteMounts.push(mount);
}

// ---------------------------------------------------------------------------------------------------
// Paths

/** Interpolates a written path; reports and returns undefined when a variable has no default. */
export function interpolatePath(ctx: Ctx, raw: string, at: readonly KeySeg[]): string | undefined {
  const { value, unresolved } = interpolate(raw, ctx.env);
  if (unresolved.length === 0) return value;
  warnUnresolved(ctx, raw, unresolved, at);
  return undefined;
}

export function warnUnresolved(ctx: Ctx, raw: string, unresolved: string[], at: readonly KeySeg[]): void {
  const vars = unresolved.join(", ");
  problem(ctx, at, `"${raw}" uses ${vars} without a default; the path is not followed`, "warning");
}

/** Interpolates and resolves a written path; reports unresolved variables and repository escapes. */
export function target(ctx: Ctx, raw: string, at: readonly KeySeg[], base = ctx.baseDir): Target | undefined {
  const text = interpolatePath(ctx, raw, at);
  return text === undefined ? undefined : resolveTarget(ctx, text, at, base);
}

export function resolveTarget(
  ctx: Ctx,
  text: string,
  at: readonly KeySeg[],
  base: string,
): Target | undefined {
  const cls = classifyPath(text);
  if (cls !== "relative") return { kind: cls, value: text };
  const path = joinRepoPath(base, text);
  if (path !== undefined) return { kind: "repo", path };
  problem(ctx, at, `"${text}" resolves outside the repository (relative to ${base})`);
  return undefined;
}

export function warnNotTracked(ctx: Ctx, t: Exclude<Target, { kind: "repo" }>, at: readonly KeySeg[]): void {
  const where = t.kind === "remote" ? "is not a local path" : "is outside the repository";
  problem(ctx, at, `"${t.value}" ${where}; changes to it are not tracked`, "warning");
}

/**
 * A file Compose reads on the deploy host: a ref when in the repo. An env_file outside it reads a
 * host file into containers, so it is policed like a bind mount; other files only warn.
 */
export function fileRef(
  ctx: Ctx,
  kind: RefKind,
  raw: string,
  at: readonly KeySeg[],
  opts: RefOptions = {},
): string | undefined {
  if (kind === "env_file") {
    const { unresolved } = interpolate(raw, ctx.env);
    if (unresolved.length > 0) {
      unresolvedMount(ctx, raw, unresolved, at, opts.service ?? "", "env_file");
      return undefined;
    }
  }
  const t = target(ctx, raw, at, opts.base);
  if (t === undefined) return undefined;
  if (t.kind !== "repo") {
    warnNotTracked(ctx, t, at);
    if (kind === "env_file" && t.kind === "host")
      addAbsoluteMount(ctx, t.value, at, opts.service ?? "", undefined, "env_file");
    return undefined;
  }
  addRef(ctx, kind, t.path, at, opts);
  return t.path;
}

/**
 * A host path written with variables the repository does not define: any host path at all once the
 * deploy host's environment is applied. Kept as an absolute mount that no allowed root accepts.
 */
export function unresolvedMount(
  ctx: Ctx,
  raw: string,
  unresolved: string[],
  at: readonly KeySeg[],
  service: string,
  via?: "env_file",
) {
  const vars = [...new Set(unresolved)].join(", ");
  const what = via === "env_file" ? "env_file" : "mount";
  problem(
    ctx,
    at,
    `"${raw}" uses ${vars}, which the repository does not define (the stack's .env or env files); no host accepts this ${what}`,
    "warning",
  );
  addAbsoluteMount(ctx, raw, at, service, unresolved, via);
}

/** Interpolates a mounted path: unresolved variables make it an {@link unresolvedMount}. */
export function mount(ctx: Ctx, kind: RefKind, raw: string, at: readonly KeySeg[], service: string): void {
  const { value, unresolved } = interpolate(raw, ctx.env);
  if (unresolved.length > 0) unresolvedMount(ctx, raw, unresolved, at, service);
  else mountRef(ctx, kind, resolveTarget(ctx, value, at, ctx.baseDir), at, service);
}

/** A host path mounted into containers: a ref when in the repo, otherwise an absolute mount to police. */
export function mountRef(
  ctx: Ctx,
  kind: RefKind,
  t: Target | undefined,
  at: readonly KeySeg[],
  service: string,
): void {
  if (t === undefined) return;
  if (t.kind === "repo") addRef(ctx, kind, t.path, at, service === "" ? {} : { service });
  else if (t.kind === "host") addAbsoluteMount(ctx, t.value, at, service);
  else warnNotTracked(ctx, t, at);
}

/** `x` or `[x, y]` with the key path of each element. */
export function listAt(value: string | string[], at: readonly KeySeg[]): { raw: string; at: KeySeg[] }[] {
  return typeof value === "string"
    ? [{ raw: value, at: [...at] }]
    : value.map((raw, i) => ({ raw, at: [...at, i] }));
}
