// The checked-out commit of a source clone read from its files agrees with git, and gives way to
// git for layouts it does not read.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkedOutCommit } from "../../src/git/mountOpeners.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const repos: TestRepo[] = [];
afterEach(() => {
  for (const r of repos.splice(0)) r.remove();
});

function clone(): TestRepo {
  const t = new TestRepo();
  repos.push(t);
  t.write({ a: "1\n" }).commit();
  t.write({ a: "2\n" }).commit();
  return t;
}

describe("checkedOutCommit", () => {
  it("reads a branch's loose ref, then the same after pack-refs, as git rev-parse HEAD does", async () => {
    const t = clone();
    expect(await checkedOutCommit(t.dir)).toBe(t.head());
    t.git("pack-refs", "--all");
    expect(await checkedOutCommit(t.dir)).toBe(t.head());
    t.write({ a: "3\n" }).commit(); // a loose ref again, newer than the packed one
    expect(await checkedOutCommit(t.dir)).toBe(t.head());
  });

  it("reads a detached HEAD", async () => {
    const t = clone();
    const first = t.git("rev-parse", "HEAD~1").trim();
    t.git("checkout", "-q", "--detach", first);
    expect(await checkedOutCommit(t.dir)).toBe(first);
  });

  it("gives way to git for a worktree, an unborn branch and a directory without git", async () => {
    const t = clone();
    const wt = join(t.dir, "..", `${t.dir.split("/").pop()}-wt`);
    t.git("worktree", "add", "-q", wt);
    expect(await checkedOutCommit(wt)).toBeUndefined();
    t.git("worktree", "remove", "--force", wt);
    t.git("checkout", "-q", "--orphan", "empty");
    expect(await checkedOutCommit(t.dir)).toBeUndefined();
    expect(await checkedOutCommit(join(t.dir, "nowhere"))).toBeUndefined();
  });
});
