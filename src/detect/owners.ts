/**
 * Input path -> names of the stacks it is an input of, at one commit. A stack's directory makes
 * every file below it an input, so those are found by walking the path's parent directories; only
 * the inputs a directory does not explain (shared files, build contexts elsewhere, watched paths,
 * referenced but absent files) are indexed by path. Answers exactly what listing every stack's
 * `inputs.files` would, with an index a small fraction of that size.
 */
import type { Tree } from "../git/repo.ts";
import type { StackInputs } from "./inputs.ts";
import type { StackDef } from "./stacks.ts";

export class Owners {
  readonly #tree: Tree;
  /** Stack directory -> stacks in it; `""` holds stacks at the repository root. */
  readonly #byDir = new Map<string, string[]>();
  readonly #byPath = new Map<string, string[]>();

  constructor(tree: Tree, stacks: Iterable<[string, { def: StackDef; inputs: StackInputs }]>) {
    this.#tree = tree;
    for (const [name, { def, inputs }] of stacks) {
      const root = def.path === "" || def.path === ".";
      const dir = root ? "" : def.path;
      push(this.#byDir, dir, name);
      const prefix = `${dir}/`;
      inputs.files.forEach((entry, path) => {
        if (entry === null || !(root || path.startsWith(prefix))) push(this.#byPath, path, name);
      });
    }
  }

  /** Names of the stacks `path` is an input of; the list may be shared, so read it only. */
  get(path: string): readonly string[] | undefined {
    let out: readonly string[] | undefined;
    if (this.#tree.has(path)) {
      const add = (names: readonly string[] | undefined) => {
        if (names) out = out ? [...out, ...names] : names;
      };
      add(this.#byDir.get(""));
      for (let slash = path.indexOf("/"); slash > 0; slash = path.indexOf("/", slash + 1))
        add(this.#byDir.get(path.slice(0, slash)));
    }
    const listed = this.#byPath.get(path);
    if (listed) out = out ? [...out, ...listed] : listed;
    return out;
  }
}

function push(map: Map<string, string[]>, key: string, name: string): void {
  const list = map.get(key);
  if (list) list.push(name);
  else map.set(key, [name]);
}
