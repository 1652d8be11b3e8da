import { describe, expect, it } from "vitest";
import { resolvePath } from "../../src/detect/symlinks.ts";
import { MODE_SYMLINK, type Tree, type TreeEntry } from "../../src/git/repo.ts";

/** A tree from path -> content; `-> target` makes a symlink (its blob id is the target itself). */
function tree(files: Record<string, string>): Tree {
  const t = new Map<string, TreeEntry>();
  for (const [path, content] of Object.entries(files)) {
    t.set(
      path,
      content.startsWith("-> ")
        ? { mode: MODE_SYMLINK, oid: content.slice(3) }
        : { mode: "100644", oid: `blob:${path}` },
    );
  }
  return t;
}
const read = (oid: string) => oid;

describe("resolvePath", () => {
  it("follows a link to a file and a path through a symlinked directory", () => {
    const t = tree({
      "stacks/a/app.env": "-> ../../shared/app.env",
      "stacks/a/data": "-> ../../shared",
      "shared/app.env": "x",
    });
    expect(resolvePath(t, "stacks/a/app.env", read)).toEqual({
      kind: "resolved",
      path: "shared/app.env",
      links: ["stacks/a/app.env"],
    });
    expect(resolvePath(t, "stacks/a/data/sub/file", read)).toEqual({
      kind: "resolved",
      path: "shared/sub/file",
      links: ["stacks/a/data"],
    });
    expect(resolvePath(t, "stacks/a/plain", read)).toEqual({
      kind: "resolved",
      path: "stacks/a/plain",
      links: [],
    });
  });

  it("follows chains, and climbs with .. from where a link led, as the kernel does", () => {
    const t = tree({
      "a/link": "-> ../b/link",
      "b/link": "-> ../c/deep/dir",
      "x/up": "-> ../c/deep/dir/../../file",
    });
    expect(resolvePath(t, "a/link", read)).toMatchObject({ path: "c/deep/dir", links: ["a/link", "b/link"] });
    expect(resolvePath(t, "x/up", read)).toMatchObject({ path: "c/file" });
    // `..` after a link climbs from the link's target, not from the link's own directory.
    const k = tree({ "s/l": "-> ../t/u/v" });
    expect(resolvePath(k, "s/l/../w", read)).toMatchObject({ path: "t/u/w" });
  });

  it("refuses an absolute target and one that climbs out of the repository, naming the link", () => {
    const t = tree({ "stacks/a/root": "-> /", "stacks/a/up": "-> ../../..", "stacks/a/via": "-> up/etc" });
    expect(resolvePath(t, "stacks/a/root", read)).toEqual({
      kind: "refused",
      link: "stacks/a/root",
      message: "stacks/a/root is a symlink to / (outside the repository)",
      links: ["stacks/a/root"],
    });
    expect(resolvePath(t, "stacks/a/up", read)).toMatchObject({
      message: "stacks/a/up is a symlink to ../../.. (outside the repository)",
    });
    expect(resolvePath(t, "stacks/a/via/shadow", read)).toMatchObject({
      kind: "refused",
      link: "stacks/a/up",
    });
  });

  it("refuses a cycle, and a chain longer than 40 links", () => {
    const cycle = tree({ "a/x": "-> y", "a/y": "-> x" });
    expect(resolvePath(cycle, "a/x", read)).toMatchObject({
      kind: "refused",
      message: expect.stringMatching(/cycle/),
    });
    const chain: Record<string, string> = {};
    for (let i = 0; i < 41; i++) chain[`l/${i}`] = `-> ${i + 1}`;
    chain["l/41"] = "end";
    expect(resolvePath(tree(chain), "l/0", read)).toMatchObject({
      kind: "refused",
      message: "l/0 goes through more than 40 symlinks",
    });
    delete chain["l/0"];
    expect(resolvePath(tree(chain), "l/1", read)).toMatchObject({ kind: "resolved", path: "l/41" });
  });

  it("asks for a link's target it has not read", () => {
    const t = tree({ "a/l": "-> b" });
    expect(resolvePath(t, "a/l/f", () => undefined)).toEqual({ kind: "pending", oid: "b" });
  });
});
