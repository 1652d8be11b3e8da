/** A tree overlay reads exactly like the map its changes were applied to. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TreeOverlay } from "../../src/detect/treeOverlay.ts";
import type { TreeEntry } from "../../src/git/repo.ts";

const path = fc.constantFrom("a", "b", "c/d", "c/e", "f/g/h", "i");
const entry = fc.record({
  mode: fc.constantFrom("100644", "100755"),
  oid: fc.constantFrom("aa", "bb", "cc"),
});

describe("TreeOverlay", () => {
  it("reads like the map its changes were applied to", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(path, entry)),
        fc.array(fc.tuple(path, fc.option(entry, { nil: null }))),
        (base, changes) => {
          const under = new Map<string, TreeEntry>(base);
          const changed = new Map<string, TreeEntry | null>(changes);
          const expected = new Map(under);
          for (const [p, e] of changed) {
            if (e) expected.set(p, e);
            else expected.delete(p);
          }
          const overlay = new TreeOverlay(under, changed);
          expect(overlay.size).toBe(expected.size);
          for (const p of ["a", "b", "c/d", "c/e", "f/g/h", "i", "c", "zz"]) {
            expect(overlay.has(p)).toBe(expected.has(p));
            expect(overlay.get(p)).toEqual(expected.get(p));
          }
          const sorted = <T>(xs: Iterable<[string, T]>) => [...xs].sort(([a], [b]) => (a < b ? -1 : 1));
          expect(sorted(overlay)).toEqual(sorted(expected));
          expect([...overlay.keys()].sort()).toEqual([...expected.keys()].sort());
          expect([...overlay.values()].length).toBe(expected.size);
          const seen: [string, TreeEntry][] = [];
          overlay.forEach((e, p) => {
            seen.push([p, e]);
          });
          expect(sorted(seen)).toEqual(sorted(expected));
        },
      ),
    );
  });
});
