/**
 * YAML loading for compose files: plain data for extraction plus the parsed document, so any key path
 * found in the data can be mapped back to a 1-based line/column.
 */

import type { Document, Node, Pair, YAMLError } from "yaml";
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";

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
  doc: Document.Parsed;
  lines: LineCounter;
  /** The document as plain JS (merge keys applied); undefined when the YAML could not be read. */
  data: unknown;
  issues: YamlIssue[];
}

/** Compose's own tags for override files; yaml would otherwise warn that it cannot resolve them. */
const COMPOSE_TAGS = new Set(["!reset", "!override"]);

export function loadYaml(content: string): LoadedYaml {
  const lines = new LineCounter();
  // Compose follows YAML 1.1 merge keys (`<<: *defaults`), which yaml only applies when asked.
  const doc = parseDocument(content, { lineCounter: lines, merge: true, prettyErrors: false });
  const issues = [
    ...doc.errors.map((e) => yamlIssue(e, lines, "error")),
    ...doc.warnings.filter((w) => !isComposeTag(w, content)).map((w) => yamlIssue(w, lines, "warning")),
  ];
  if (doc.errors.length > 0) return { doc, lines, data: undefined, issues };
  dropResetKeys(doc);
  try {
    return { doc, lines, data: doc.toJS(), issues };
  } catch (err) {
    // toJS refuses alias bombs ("excessive alias count"); report instead of throwing.
    const message = `cannot expand YAML: ${err instanceof Error ? err.message : String(err)}`;
    return {
      doc,
      lines,
      data: undefined,
      issues: [...issues, { line: 1, col: 1, message, severity: "error" }],
    };
  }
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
  let current: unknown = y.doc.contents;
  for (const seg of path) {
    const found = child(y.doc, current, seg);
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

function child(doc: Document.Parsed, parent: unknown, seg: KeySeg): Found | undefined {
  const coll = isAlias(parent) ? parent.resolve(doc) : parent;
  if (isSeq(coll) && typeof seg === "number") {
    const item = coll.items[seg];
    return isNode(item) ? { node: item, key: undefined } : undefined;
  }
  if (!isMap(coll)) return undefined;
  const own = coll.items.find(
    (p) => !isMergeKey(p) && isScalar(p.key) && String(p.key.value) === String(seg),
  );
  if (own)
    return { node: isNode(own.value) ? own.value : undefined, key: isNode(own.key) ? own.key : undefined };
  // Keys brought in by `<<: *anchor` live at the anchor's definition; explicit keys above win, as in YAML.
  for (const pair of coll.items.filter(isMergeKey)) {
    const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
    for (const source of sources) {
      const found = child(doc, source, seg);
      if (found) return found;
    }
  }
  return undefined;
}

function isMergeKey(pair: Pair): boolean {
  if (!isScalar(pair.key)) return false;
  const key = pair.key.value;
  return key === "<<" || (typeof key === "symbol" && key.description === "<<");
}
