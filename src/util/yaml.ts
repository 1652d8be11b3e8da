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
 * Errors of ours are `YAMLParseError`s beside yaml's own, so callers report them alike.
 */
import {
  Composer,
  type Document,
  isAlias,
  isMap,
  isScalar,
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
/** yaml's own bound on what aliases expand to (its `maxAliasCount`): stops "billion laughs". */
export const MAX_ALIAS_EXPANSION = 100;

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
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSION }) };
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
