import { describe, expect, it } from "vitest";
import { globHas, PathIndex } from "../../src/detect/pathIndex.ts";
import type { TreeEntry } from "../../src/git/repo.ts";

const index = (paths: string[]) =>
  new PathIndex(new Map<string, TreeEntry>(paths.map((p) => [p, { mode: "100644", oid: "0".repeat(40) }])));

describe("PathIndex.glob", () => {
  const idx = index(["shared/a.yml", "shared/b.txt", "shared/.hidden/c", "stacks/web/compose.yaml", "top"]);

  it("lists the paths a glob matches, dot names included", () => {
    expect(idx.glob("shared/**")).toEqual(["shared/.hidden/c", "shared/a.yml", "shared/b.txt"]);
    expect(idx.glob("**/*.yml")).toEqual(["shared/a.yml"]);
  });

  it("lists a watched path written without any wildcard", () => {
    expect(idx.glob("shared/b.txt")).toEqual(["shared/b.txt"]);
    expect(idx.glob("top")).toEqual(["top"]);
    expect(globHas("shared/b.txt", "shared/b.txt")).toBe(true);
  });

  it("agrees with globHas on every path", () => {
    for (const pattern of ["shared/*", "**/compose.{yaml,yml}", "shared/b.txt", "*"])
      for (const p of idx.paths)
        expect(globHas(pattern, p), `${pattern} ${p}`).toBe(idx.glob(pattern).includes(p));
  });
});
