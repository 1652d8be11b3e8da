/**
 * YAML loading for compose files: plain data for extraction plus the parsed document, so any key path
 * found in the data can be mapped back to a 1-based line/column.
 */

import type { Document, LineCounter, Node, YAMLError } from "yaml";
import { isMap, isNode, isSeq, visit } from "yaml";
import { MapIndex, parseYaml, toPlain } from "../util/yaml.ts";

export type KeySeg = string | number;

export interface Position {
  line: number;
  col: number;
}

export interface YamlIssue extends Position {
  message: string;
  severity: "error" | "warning";
}

export interface LoadedYaml {
  /** Undefined when the text nests too deep to parse. */
  doc: Document.Parsed | undefined;
  lines: LineCounter;
  /** The document as plain JS (merge keys applied); undefined when the YAML could not be read. */
  data: unknown;
  issues: YamlIssue[];
  /** What each alias stands for, and the keys of each map: lookups without walking the document. */
  aliases: ReadonlyMap<Node, Node>;
  index: MapIndex;
}

/** Compose's own tags for override files; yaml would otherwise warn that it cannot resolve them. */
const COMPOSE_TAGS = new Set(["!reset", "!override"]);

export function loadYaml(content: string): LoadedYaml {
  // Compose follows YAML 1.1 merge keys (`<<: *defaults`), which yaml only applies when asked.
  const { doc, lines, errors, warnings, aliases } = parseYaml(content, { merge: true });
  const issues = [
    ...errors.map((e) => yamlIssue(e, lines, "error")),
    ...warnings.filter((w) => !isComposeTag(w, content)).map((w) => yamlIssue(w, lines, "warning")),
  ];
  const loaded = { doc, lines, data: undefined as unknown, issues, aliases, index: new MapIndex() };
  if (!doc || errors.length > 0) return loaded;
  dropResetKeys(doc);
  const plain = toPlain(doc);
  // toJS refuses alias bombs ("excessive alias count"); report instead of throwing.
  if ("error" in plain) issues.push({ line: 1, col: 1, message: plain.error, severity: "error" });
  else loaded.data = plain.value;
  return loaded;
}

function yamlIssue(e: YAMLError, lines: LineCounter, severity: YamlIssue["severity"]): YamlIssue {
  return { ...lines.linePos(e.pos[0]), message: e.message, severity };
}

function isComposeTag(w: YAMLError, content: string): boolean {
  return w.code === "TAG_RESOLVE_FAILED" && COMPOSE_TAGS.has(content.slice(w.pos[0], w.pos[1]));
}

/** `key: !reset ...` removes an inherited value; within one file that is the same as leaving it out. */
function dropResetKeys(doc: Document.Parsed): void {
  visit(doc, {
    Pair: (_key, pair) => (isNode(pair.value) && pair.value.tag === "!reset" ? visit.REMOVE : undefined),
  });
}

/** `services.web.volumes[0]` */
export function keyPathString(path: readonly KeySeg[]): string {
  return path.reduce<string>((out, seg) => {
    if (typeof seg === "number") return `${out}[${seg}]`;
    return out === "" ? seg : `${out}.${seg}`;
  }, "");
}

interface Found {
  node: Node | undefined;
  key: Node | undefined;
}

/**
 * Position of the value at `path` (or of its key with `at: "key"`). When the path does not exist
 * (a missing required key, say), the position of the deepest existing ancestor is used.
 */
export function positionOf(y: LoadedYaml, path: readonly KeySeg[], at: "value" | "key" = "value"): Position {
  let best: Position = { line: 1, col: 1 };
  let current: unknown = y.doc?.contents;
  for (const seg of path) {
    const found = child(y, current, seg);
    if (!found) break;
    best = pickPosition(y.lines, found, at) ?? best;
    current = found.node;
  }
  return best;
}

function pickPosition(lines: LineCounter, found: Found, at: "value" | "key"): Position | undefined {
  const value = found.node?.range;
  // `key:` with nothing after it yields an empty null scalar positioned after the colon; the key is clearer.
  const emptyValue = !value || value[0] === value[1];
  const node = at === "key" || emptyValue ? (found.key ?? found.node) : found.node;
  return node?.range ? lines.linePos(node.range[0]) : undefined;
}

function child(y: LoadedYaml, parent: unknown, seg: KeySeg, depth = 0): Found | undefined {
  const coll = isNode(parent) ? (y.aliases.get(parent) ?? parent) : parent;
  if (isSeq(coll) && typeof seg === "number") {
    const item = coll.items[seg];
    return isNode(item) ? { node: item, key: undefined } : undefined;
  }
  if (!isMap(coll)) return undefined;
  const own = y.index.pair(coll, String(seg));
  if (own)
    return { node: isNode(own.value) ? own.value : undefined, key: isNode(own.key) ? own.key : undefined };
  // Keys brought in by `<<: *anchor` live at the anchor's definition; explicit keys above win, as in
  // YAML. The depth bound stops a merge cycle (`&a {<<: *a}`).
  if (depth >= MAX_MERGE_DEPTH) return undefined;
  for (const pair of y.index.merges(coll)) {
    const value = isNode(pair.value) ? (y.aliases.get(pair.value) ?? pair.value) : pair.value;
    const sources = isSeq(value) ? value.items : [value];
    for (const source of sources) {
      const found = child(y, source, seg, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

const MAX_MERGE_DEPTH = 16;
