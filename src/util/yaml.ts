/**
 * YAML from outside (repo config, compose files) parsed with work linear in its size. The yaml
 * library is used as is except where it is not linear:
 * - Duplicate keys: its `uniqueKeys` check compares each key with every earlier one of its map
 *   (a 20k-key mapping took 3.5 s to parse); here it is off and one Set per map finds them.
 * - Nesting: its parser slows down with depth (200 KB of `[` took 4 s) before it gives up with a
 *   stack overflow; the depth is watched while parsing and the parse stops past MAX_YAML_DEPTH.
 * - Aliases: `toJS` finds each alias's anchor by a walk over every alias before it (40k aliases
 *   took 95 s), and `Alias.resolve` outside `toJS` walks the whole document; a document has at
 *   most MAX_YAML_ALIASES, each resolved once here, and key lookups use one index per map.
 * - Expansion: yaml's `maxAliasCount` stops "billion laughs" but not merge keys that copy a big
 *   map again and again (10 `<<: *big` of a 30k-key map: 3.5 s, 155 MB); what aliases and merge
 *   keys add to the document is counted before `toJS` and bounded by MAX_ALIAS_EXPANSION.
 * Errors of ours are `YAMLParseError`s beside yaml's own, so callers report them alike.
 */
import {
  Composer,
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  type Pair,
  Parser,
  visit,
  type YAMLError,
  type YAMLMap,
  YAMLParseError,
} from "yaml";

/** Levels of nesting (collections in collections); real files use a dozen. */
export const MAX_YAML_DEPTH = 100;
/** Aliases (`*name`) in one document; real files use a few dozen. */
export const MAX_YAML_ALIASES = 1000;
/** Nodes that aliases and merge keys may add to a document, as a consumer walking it sees them. */
export const MAX_ALIAS_EXPANSION = 50_000;

export interface ParsedYaml {
  /** Undefined when the text nests deeper than MAX_YAML_DEPTH (then `errors` says where). */
  doc: Document.Parsed | undefined;
  lines: LineCounter;
  /** yaml's errors and ours (nesting, duplicate keys, aliases); any error means no value. */
  errors: YAMLError[];
  warnings: YAMLError[];
  /** The node each alias stands for, found in one pass. */
  aliases: ReadonlyMap<Node, Node>;
}

class TooDeep extends Error {
  readonly offset: number;
  constructor(offset: number) {
    super("too deep");
    this.offset = offset;
  }
}

/** Parse one document (`merge`: apply `<<` merge keys, as Compose does). */
export function parseYaml(text: string, opts: { merge?: boolean } = {}): ParsedYaml {
  const lines = new LineCounter();
  const parser = new Parser(lines.addNewLine);
  const composer = new Composer({ merge: opts.merge === true, uniqueKeys: false });
  lines.addNewLine(0);
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      if (parser.stack.length > MAX_YAML_DEPTH) throw new TooDeep(parser.offset);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | undefined;
  const extra: YAMLError[] = [];
  try {
    for (const next of composer.compose(tokens(), true, text.length)) {
      if (!doc) doc = next;
      else {
        const message = "Source contains multiple documents; Stackpilot reads one";
        extra.push(new YAMLParseError([next.range[0], next.range[1]], "MULTIPLE_DOCS", message));
        break;
      }
    }
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    const message = `nested more than ${MAX_YAML_DEPTH} levels deep`;
    const error = new YAMLParseError([err.offset, err.offset + 1], "RESOURCE_EXHAUSTION", message);
    return { doc: undefined, lines, errors: [error], warnings: [], aliases: new Map() };
  }
  const parsed = doc as Document.Parsed;
  const aliases = checkNodes(parsed, extra);
  if (extra.length === 0) checkExpansion(parsed, aliases, extra);
  parsed.errors.push(...extra.sort((a, b) => a.pos[0] - b.pos[0]));
  return { doc: parsed, lines, errors: parsed.errors, warnings: parsed.warnings, aliases };
}

/**
 * One walk over the document: duplicate keys per map (as yaml's `uniqueKeys` would report them:
 * scalar keys of equal value; `<<` merge keys may repeat) and each alias's node (the last node
 * anchored so before it, as yaml resolves it), refusing more than MAX_YAML_ALIASES.
 */
function checkNodes(doc: Document.Parsed, errors: YAMLError[]): ReadonlyMap<Node, Node> {
  const anchored = new Map<string, Node>();
  const aliases = new Map<Node, Node>();
  visit(doc, {
    Node(_, node) {
      if (isAlias(node)) {
        const target = anchored.get(node.source);
        if (target) aliases.set(node, target);
        if (aliases.size > MAX_YAML_ALIASES) {
          const message = `more than ${MAX_YAML_ALIASES} aliases (*${node.source}); Stackpilot reads at most ${MAX_YAML_ALIASES} per file`;
          errors.push(new YAMLParseError(range(node), "RESOURCE_EXHAUSTION", message));
          return visit.BREAK;
        }
        return undefined;
      }
      if (node.anchor) anchored.set(node.anchor, node);
      if (isMap(node)) duplicateKeys(node, errors);
      return undefined;
    },
  });
  return aliases;
}

function duplicateKeys(map: YAMLMap, errors: YAMLError[]): void {
  const seen = new Map<string, Node>();
  for (const pair of map.items) {
    const key = pair.key;
    if (!isScalar(key) || isMergeKey(pair)) continue;
    const id = `${typeof key.value}:${String(key.value)}`;
    const first = seen.get(id);
    if (!first) {
      seen.set(id, key);
      continue;
    }
    const message = `duplicate key "${String(key.value)}": map keys must be unique`;
    errors.push(new YAMLParseError(range(key), "DUPLICATE_KEY", message));
  }
}

/**
 * Refuses a document whose aliases (and the merge keys using them) add more than
 * MAX_ALIAS_EXPANSION nodes, or an alias inside the node it names. Each node's expanded size is
 * computed once (aliases counted as their target's size), without recursion: alias chains can be
 * deeper than the stack.
 */
function checkExpansion(doc: Document.Parsed, aliases: ReadonlyMap<Node, Node>, errors: YAMLError[]): void {
  const root = doc.contents;
  if (!isNode(root)) return;
  const children = (node: Node): Node[] => {
    if (isAlias(node)) return aliases.has(node) ? [aliases.get(node) as Node] : [];
    if (isMap(node)) return node.items.flatMap((p) => [p.key, p.value].filter((n): n is Node => isNode(n)));
    if (isSeq(node)) return node.items.filter((n): n is Node => isNode(n));
    return [];
  };
  // An alias stands for its target's nodes; anything else is one node plus its children's.
  const frame = (node: Node) => ({ node, next: children(node), total: isAlias(node) ? 0 : 1 });
  const size = new Map<Node, number>();
  let written = 0;
  const stack = [frame(root)];
  const open = new Set<Node>([root]);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as ReturnType<typeof frame>;
    const child = top.next.pop();
    if (child === undefined) {
      stack.pop();
      open.delete(top.node);
      size.set(top.node, top.total);
      if (!isAlias(top.node)) written++;
      const parent = stack[stack.length - 1];
      if (parent) parent.total = Math.min(parent.total + top.total, CAP);
    } else if (size.has(child)) {
      top.total = Math.min(top.total + (size.get(child) as number), CAP);
    } else if (open.has(child)) {
      // Only an alias leads back to an open node: the tree itself has no cycles.
      const name = isAlias(top.node) ? top.node.source : "";
      errors.push(
        new YAMLParseError(
          range(top.node),
          "RESOURCE_EXHAUSTION",
          `alias *${name} is inside the node it names`,
        ),
      );
      return;
    } else {
      open.add(child);
      stack.push(frame(child));
    }
  }
  const added = (size.get(root) ?? 0) - written;
  if (added > MAX_ALIAS_EXPANSION) {
    const first = aliases.keys().next().value as Node;
    const count = added >= CAP / 2 ? "more than a million billion" : String(added);
    const message = `aliases and merge keys add ${count} nodes to the document; Stackpilot reads at most ${MAX_ALIAS_EXPANSION} more than written`;
    errors.push(new YAMLParseError(range(first), "RESOURCE_EXHAUSTION", message));
  }
}
const CAP = 1e15;

function range(node: Node): [number, number] {
  const [start = 0, end = start] = node.range ?? [];
  return [start, end];
}

/** A `<<` merge key (parsed with merges on, yaml holds it as a symbol; a quoted "<<" is a string). */
export function isMergeKey(pair: Pair): boolean {
  const key = isScalar(pair.key) ? pair.key.value : undefined;
  return typeof key === "symbol" && key.description === "<<";
}

/**
 * The document as plain JS (merge keys applied), or why it cannot be: an alias expanding past
 * MAX_ALIAS_EXPANSION ("billion laughs"), a merge of something not a map.
 */
export function toPlain(doc: Document.Parsed): { value: unknown } | { error: string } {
  try {
    // Expansion is bounded by parseYaml; yaml's own count stays on behind it, generously.
    return { value: doc.toJS({ maxAliasCount: 10 * MAX_YAML_ALIASES }) };
  } catch (err) {
    return { error: `cannot expand YAML: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Key lookups in parsed maps, one index per map (built on first use; the maps must not change after). */
export class MapIndex {
  readonly #maps = new WeakMap<YAMLMap, { own: Map<string, Pair>; merges: Pair[] }>();

  /** The pair of `key` written in `map` itself (the first, should it repeat). */
  pair(map: YAMLMap, key: string): Pair | undefined {
    return this.#of(map).own.get(key);
  }

  /** The `<<` pairs of `map`, in order. */
  merges(map: YAMLMap): readonly Pair[] {
    return this.#of(map).merges;
  }

  #of(map: YAMLMap) {
    let index = this.#maps.get(map);
    if (!index) {
      index = { own: new Map(), merges: [] };
      for (const pair of map.items) {
        if (isMergeKey(pair)) index.merges.push(pair);
        else if (isScalar(pair.key)) {
          const key = String(pair.key.value);
          if (!index.own.has(key)) index.own.set(key, pair);
        }
      }
      this.#maps.set(map, index);
    }
    return index;
  }
}
