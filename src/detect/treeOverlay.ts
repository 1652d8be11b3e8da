/**
 * The tree at one end of a range as the range's changes over the tree at the other end: a derived
 * snapshot shares the other snapshot's entries instead of copying its 20,000-entry map. One level
 * deep (an overlay over an overlay is flattened into a map), so a lookup is at most two map reads
 * and a chain of pushes keeps no chain of trees alive.
 */
import type { Tree, TreeEntry } from "../git/repo.ts";

export class TreeOverlay implements ReadonlyMap<string, TreeEntry> {
  readonly #under: Tree;
  /** Changed paths: their entry now, or null when absent now. */
  readonly #changed: ReadonlyMap<string, TreeEntry | null>;
  readonly size: number;

  constructor(under: Tree, changed: ReadonlyMap<string, TreeEntry | null>) {
    this.#under = under;
    this.#changed = changed;
    let size = under.size;
    for (const [path, entry] of changed) size += (entry ? 1 : 0) - (under.has(path) ? 1 : 0);
    this.size = size;
  }

  get(path: string): TreeEntry | undefined {
    const entry = this.#changed.get(path);
    return entry === undefined ? this.#under.get(path) : (entry ?? undefined);
  }

  has(path: string): boolean {
    const entry = this.#changed.get(path);
    return entry === undefined ? this.#under.has(path) : entry !== null;
  }

  /** The underlying paths in their order (changed ones with their new entry), then the added ones. */
  *entries(): MapIterator<[string, TreeEntry]> {
    for (const [path, entry] of this.#under) {
      const now = this.#changed.get(path);
      if (now === undefined) yield [path, entry];
      else if (now !== null) yield [path, now];
    }
    for (const [path, entry] of this.#changed) {
      if (entry !== null && !this.#under.has(path)) yield [path, entry];
    }
  }

  *keys(): MapIterator<string> {
    for (const [path] of this.entries()) yield path;
  }

  *values(): MapIterator<TreeEntry> {
    for (const [, entry] of this.entries()) yield entry;
  }

  [Symbol.iterator](): MapIterator<[string, TreeEntry]> {
    return this.entries();
  }

  forEach(callback: (entry: TreeEntry, path: string, tree: ReadonlyMap<string, TreeEntry>) => void): void {
    for (const [path, entry] of this.entries()) callback(entry, path, this);
  }
}
