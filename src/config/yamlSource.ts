/**
 * YAML parsing that keeps positions, and zod validation whose errors point at `file:line:col`.
 * Shared by every YAML file we read from outside: the repo config and the hosts file.
 */
import { isMap, isNode, isSeq, type Node } from "yaml";
import type { z } from "zod";
import { MapIndex, parseYaml, toPlain } from "../util/yaml.ts";
import { formatKeyPath, type Problem } from "./problems.ts";

export interface YamlSource {
  file: string;
  /** The parsed plain value, or undefined when the YAML itself is broken. */
  value: unknown;
  problems: Problem[];
  /** Position of the value at a key path (or of its key, with `key: true`); falls back to the nearest parent. */
  positionOf(path: readonly PropertyKey[], opts?: { key?: boolean }): { line: number; col: number };
}

export function parseYamlSource(file: string, text: string): YamlSource {
  const { doc, lines, errors, warnings, aliases } = parseYaml(text);
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line, col };
  };
  const problems: Problem[] = [];
  const report = (err: { pos: [number, number]; message: string }, severity: Problem["severity"]) =>
    problems.push({
      file,
      ...at(err.pos[0]),
      key: "",
      message: err.message.split("\n")[0] ?? err.message,
      severity,
    });
  for (const err of errors) report(err, "error");
  for (const warning of warnings) report(warning, "warning");
  let value: unknown;
  if (doc && errors.length === 0) {
    const plain = toPlain(doc);
    // An alias bomb is the file's fault, not a crash: a problem like any other.
    if ("error" in plain)
      problems.push({ file, line: 1, col: 1, key: "", message: plain.error, severity: "error" });
    else value = plain.value;
  }

  const index = new MapIndex();
  const positionOf: YamlSource["positionOf"] = (path, opts) => {
    let node: unknown = doc?.contents;
    let best = node && isNode(node) ? node.range?.[0] : 0;
    for (const [i, seg] of path.entries()) {
      if (isNode(node)) node = aliases.get(node) ?? node;
      if (isMap(node)) {
        const pair = index.pair(node, String(seg));
        if (!pair) break;
        const keyNode = pair.key as Node;
        best =
          (opts?.key && i === path.length - 1
            ? keyNode.range?.[0]
            : ((pair.value as Node)?.range?.[0] ?? keyNode.range?.[0])) ?? best;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number") {
        const item = node.items[seg];
        if (!isNode(item)) break;
        best = item.range?.[0] ?? best;
        node = item;
      } else break;
    }
    return at(best ?? 0);
  };

  return { file, value, problems, positionOf };
}

/** Validate `src.value` against a schema; every issue becomes a positioned Problem. */
export function validateYaml<S extends z.ZodType>(
  src: YamlSource,
  schema: S,
  knownKeysAt?: (path: readonly PropertyKey[]) => readonly string[],
): { data?: z.output<S>; problems: Problem[] } {
  const result = schema.safeParse(src.value ?? {});
  if (result.success) return { data: result.data, problems: [] };
  const problems: Problem[] = [];
  for (const issue of flattenUnions(result.error.issues)) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) {
        const path = [...issue.path, k];
        const hint = didYouMean(k, knownKeysAt?.(issue.path) ?? []);
        problems.push({
          file: src.file,
          ...src.positionOf(path, { key: true }),
          key: formatKeyPath(path),
          message: `unknown key "${k}"${hint ? `; did you mean "${hint}"?` : ""}`,
          severity: "error",
        });
      }
      continue;
    }
    // A custom issue about a key itself (params.atKey) points at the key, not its value.
    const atKey = issue.code === "custom" && issue.params?.atKey === true;
    problems.push({
      file: src.file,
      ...src.positionOf(issue.path, { key: atKey }),
      key: formatKeyPath(issue.path),
      message: issue.message,
      severity: "error",
    });
  }
  return { problems };
}

type Issue = z.core.$ZodIssue;

/**
 * zod reports a failed union as one vague "Invalid input". When one branch got further than the
 * others (its errors sit deeper in the value), the user meant that branch: report its errors.
 */
function flattenUnions(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code !== "invalid_union" || issue.errors.length === 0) {
      out.push({ ...issue, path } as Issue);
      continue;
    }
    const depth = (errs: readonly Issue[]) => Math.max(...errs.map((e) => e.path.length));
    const ranked = [...issue.errors].sort((a, b) => depth(b) - depth(a));
    const [first, second] = ranked;
    if (first && depth(first) > 0 && (!second || depth(first) > depth(second)))
      out.push(...flattenUnions(first, path));
    else out.push({ ...issue, path, message: unionMessage(issue.errors) } as Issue);
  }
  return out;
}

function unionMessage(branches: readonly (readonly Issue[])[]): string {
  const expected = branches.flatMap((b) => b.map((e) => ("expected" in e ? String(e.expected) : undefined)));
  const names = [...new Set(expected.filter((e): e is string => !!e))];
  return names.length ? `expected one of: ${names.join(", ")}` : "value does not match any allowed form";
}

/** Keys a strict object schema accepts at a path, for "did you mean" hints. */
export function knownKeysOf(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let nodes: unknown[] = [schema];
  for (const seg of [...path, null]) {
    const next: unknown[] = [];
    for (const n of nodes) {
      for (const obj of unwrap(n)) {
        const def = (obj as { _zod: { def: Record<string, unknown> } })._zod.def;
        if (seg === null) {
          if (def.type === "object") return Object.keys(def.shape as object);
        } else if (def.type === "object" && typeof seg === "string") {
          const child = (def.shape as Record<string, unknown>)[seg];
          if (child) next.push(child);
        } else if (def.type === "array" && typeof seg === "number") next.push(def.element);
        else if (def.type === "record") next.push(def.valueType);
      }
    }
    nodes = next;
  }
  return [];
}

/** Look through optional/default/union/pipe wrappers to the schemas that describe the value. */
function unwrap(node: unknown): unknown[] {
  const def = (node as { _zod?: { def: Record<string, unknown> } })._zod?.def;
  if (!def) return [];
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
      return unwrap(def.innerType);
    case "pipe":
      return unwrap(def.in);
    case "union":
      return (def.options as unknown[]).flatMap(unwrap);
    default:
      return [node];
  }
}

/** The closest known key within edit distance 2 (or a case-insensitive match), for "did you mean". */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = c.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, c);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

/**
 * Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: the optimal string
 * alignment distance, so the typo `wacth` is 1 from `watch` (2 from `path` without swaps).
 */
function editDistance(a: string, b: string): number {
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (before[j - 2] as number) + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length] as number;
}
