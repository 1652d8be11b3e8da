/**
 * Zod shapes for the parts of a compose file Stackpilot reads. Everything is loose (unknown keys pass)
 * and deliberately small: callers validate one field or list item at a time, so a single malformed
 * entry is reported at its own position without hiding its well-formed siblings.
 */
import { z } from "zod";
import type { KeySeg } from "./composeYaml.ts";

/** A YAML mapping; the shape of the document, a service, and the top-level sections. */
export const Mapping = z.record(z.string(), z.unknown());
export const List = z.array(z.unknown());
export const Text = z.string();
/** Keys such as `env_file` take one string or a list of entries. */
export const StringOrList = z.union([z.string(), List]);

const StringOrStrings = z.union([z.string(), z.array(z.string())]);

/** Compose allows numbers and booleans where it means strings (build args, driver options). */
const Scalar = z.union([z.string(), z.number(), z.boolean()]);

export const IncludeItem = z.union([
  z.string(),
  z.looseObject({
    path: StringOrStrings,
    project_directory: z.string().nullish(),
    env_file: StringOrStrings.nullish(),
  }),
]);
export type IncludeItem = z.output<typeof IncludeItem>;

export const EnvFileItem = z.union([
  z.string(),
  z.looseObject({ path: z.string(), required: z.boolean().nullish() }),
]);

export const Build = z.union([
  z.string(),
  z.looseObject({
    context: z.string().nullish(),
    dockerfile: z.string().nullish(),
    dockerfile_inline: z.string().nullish(),
    target: z.string().nullish(),
    network: z.string().nullish(),
    args: z.union([z.record(z.string(), Scalar.nullable()), z.array(z.string())]).nullish(),
    additional_contexts: z.union([z.record(z.string(), z.string()), z.array(z.string())]).nullish(),
  }),
]);
export type Build = z.output<typeof Build>;

export const Extends = z.union([
  z.string(),
  z.looseObject({ service: z.string(), file: z.string().nullish() }),
]);

export const VolumeItem = z.union([
  z.string(),
  z.looseObject({ type: z.string(), source: z.string().nullish() }),
]);

export const Healthcheck = z.looseObject({
  test: StringOrStrings.nullish(),
  disable: z.boolean().nullish(),
});

/** Top-level `configs.*` and `secrets.*`. */
export const FileResource = z.looseObject({ file: z.string().nullish() });

/** Top-level `volumes.*`; `data:` with no body is a valid named volume. */
export const VolumeDefinition = z
  .looseObject({
    driver: z.string().nullish(),
    driver_opts: z.record(z.string(), Scalar.nullable()).nullish(),
  })
  .nullable();

export interface ShapeIssue {
  path: KeySeg[];
  message: string;
}

/**
 * Turns zod issues into one readable message per real mistake. A union's "Invalid input" is unwrapped
 * into the issues of the option that matched the value's type (e.g. the mapping form of `build`), so
 * the problem points at the offending nested key rather than at the whole union.
 */
export function shapeIssues(issues: readonly z.core.$ZodIssue[], value: unknown): ShapeIssue[] {
  return issues.flatMap((issue) => flatten(issue, [], value));
}

function flatten(issue: z.core.$ZodIssue, prefix: KeySeg[], root: unknown): ShapeIssue[] {
  const path = [...prefix, ...issue.path.filter(isKeySeg)];
  const actual = valueAt(root, path);
  if (issue.code === "invalid_union") {
    const matched = issue.errors.find((option) => option.length > 0 && option.every(isNested));
    if (matched) return matched.flatMap((inner) => flatten(inner, path, root));
    const expected = [
      ...new Set(
        issue.errors
          .flat()
          .filter(isRootTypeIssue)
          .map((i) => noun(i.expected)),
      ),
    ];
    return [{ path, message: `expected ${expected.join(" or ")}, got ${describe(actual)}` }];
  }
  if (issue.code === "invalid_type") {
    const message =
      actual === undefined
        ? `missing required key "${String(path.at(-1))}"`
        : `expected ${noun(issue.expected)}, got ${describe(actual)}`;
    return [{ path, message }];
  }
  return [{ path, message: issue.message }];
}

/** An option failed only below the root, i.e. the value had the option's type. */
function isNested(issue: z.core.$ZodIssue): boolean {
  return issue.path.length > 0 || issue.code !== "invalid_type";
}

function isRootTypeIssue(issue: z.core.$ZodIssue): issue is z.core.$ZodIssueInvalidType {
  return issue.code === "invalid_type" && issue.path.length === 0;
}

function isKeySeg(seg: PropertyKey): seg is KeySeg {
  return typeof seg === "string" || typeof seg === "number";
}

function valueAt(root: unknown, path: readonly KeySeg[]): unknown {
  let current = root;
  for (const seg of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<KeySeg, unknown>)[seg];
  }
  return current;
}

/** Compose users think in YAML terms, not zod's. */
function noun(expected: string): string {
  const nouns: Record<string, string> = { record: "a mapping", object: "a mapping", array: "a list" };
  return nouns[expected] ?? `a ${expected}`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}
