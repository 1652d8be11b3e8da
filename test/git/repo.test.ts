import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MergeBaseMemo, resolveRange } from "../../src/git/range.ts";
import { EMPTY_TREE, GitRepo, treeBeforeChanges } from "../../src/git/repo.ts";
import { testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();

describe("git diff between commits", () => {
  it("sees additions, deletions, renames on both sides and mode changes", async () => {
    const t = newRepo();
    const base = t
      .write({
        "a/keep.txt": "same\n",
        "a/old-name.txt": "renamed content that is long enough\n",
        "b/gone.txt": "x\n",
        "run.sh": "echo\n",
      })
      .commit();
    t.git("mv", "a/old-name.txt", "a/new-name.txt");
    const head = t.write({ "b/gone.txt": null, "c/new.txt": "new\n" }).chmod("run.sh", 0o755).commit();
    const repo = new GitRepo(t.dir);
    const changes = await repo.diff(base, head);
    const byPath = Object.fromEntries(changes.map((c) => [c.path, c]));
    expect(byPath["a/new-name.txt"]).toMatchObject({ status: "R", oldPath: "a/old-name.txt" });
    expect(byPath["b/gone.txt"]?.status).toBe("D");
    expect(byPath["c/new.txt"]?.status).toBe("A");
    expect(byPath["run.sh"]).toMatchObject({ status: "M", oldMode: "100644", newMode: "100755" });
    expect(byPath["a/keep.txt"]).toBeUndefined();
  });

  it("sees a submodule pointer change", async () => {
    const sub = newRepo();
    const s1 = sub.write({ "f.txt": "1\n" }).commit();
    const s2 = sub.write({ "f.txt": "2\n" }).commit();
    const t = newRepo();
    t.write({ "x.txt": "x\n" }).commit();
    // Gitlinks straight into the index: `git add -A` would drop them (no checkout in the worktree).
    t.git("update-index", "--add", "--cacheinfo", `160000,${s1},vendor/lib`);
    t.git("commit", "-q", "-m", "add submodule");
    const base = t.head();
    t.git("update-index", "--cacheinfo", `160000,${s2},vendor/lib`);
    t.git("commit", "-q", "-m", "bump submodule");
    const head = t.head();
    const changes = await new GitRepo(t.dir).diff(base, head);
    expect(changes).toEqual([
      expect.objectContaining({ path: "vendor/lib", status: "M", oldOid: s1, newOid: s2, newMode: "160000" }),
    ]);
  });

  it("rebuilds the base tree from the head tree and the diff exactly", async () => {
    const t = newRepo();
    const base = t
      .write({ "a.txt": "a\n", "d/b.txt": "b is a file with enough content\n", "e.txt": "e\n" })
      .commit();
    t.git("mv", "d/b.txt", "d/c.txt");
    const head = t.write({ "a.txt": "changed\n", "e.txt": null, "f.txt": "f\n" }).commit();
    const repo = new GitRepo(t.dir);
    const derived = treeBeforeChanges(await repo.lsTree(head), await repo.diff(base, head));
    expect(new Map([...derived].sort())).toEqual(new Map([...(await repo.lsTree(base))].sort()));
  });

  it("reads many blobs in one batch and skips unknown ids", async () => {
    const t = newRepo();
    const head = t.write({ "a.txt": "alpha\n", "b.txt": "beta\n" }).commit();
    const repo = new GitRepo(t.dir);
    const tree = await repo.lsTree(head);
    const ids = [
      tree.get("a.txt")?.oid ?? "",
      tree.get("b.txt")?.oid ?? "",
      "0123456789012345678901234567890123456789",
    ];
    const blobs = await repo.readBlobs(ids);
    expect([...blobs.values()].map((b) => b.toString())).toEqual(["alpha\n", "beta\n"]);
  });

  it("reads blobs within a size limit and only sizes the larger ones", async () => {
    const t = newRepo();
    const big = "x".repeat(300_000);
    const head = t.write({ "small.txt": "small\n", "big.txt": big, "edge.txt": "12345" }).commit();
    const repo = new GitRepo(t.dir);
    const tree = await repo.lsTree(head);
    const oid = (p: string) => tree.get(p)?.oid ?? "";
    const missing = "0123456789012345678901234567890123456789";
    const { blobs, tooLarge } = await repo.readBlobsWithin(
      [oid("small.txt"), oid("big.txt"), missing, oid("edge.txt"), oid("small.txt")],
      5,
    );
    expect(new Map([...blobs].map(([k, v]) => [k, v.toString()]))).toEqual(
      new Map([[oid("edge.txt"), "12345"]]),
    );
    expect(tooLarge).toEqual(
      new Map([
        [oid("small.txt"), 6],
        [oid("big.txt"), 300_000],
      ]),
    );
    const all = await repo.readBlobsWithin([oid("big.txt"), oid("small.txt"), missing], 1_000_000);
    expect(all.blobs.get(oid("big.txt"))?.toString()).toBe(big);
    expect(all.blobs.get(oid("small.txt"))?.toString()).toBe("small\n");
    expect(all.tooLarge.size).toBe(0);
  });
});

describe("git processes of a repository", () => {
  it("kills a git that hangs (an object file that never answers) after timeoutMs, saying so", async () => {
    const t = newRepo();
    const head = t.write({ "a.txt": "alpha\n" }).commit();
    const blob = t.git("rev-parse", `${head}:a.txt`);
    // A loose object replaced by a FIFO: reading it blocks, as on a stuck file system.
    const object = join(t.dir, ".git", "objects", blob.slice(0, 2), blob.slice(2));
    rmSync(object, { force: true });
    execFileSync("mkfifo", [object]);
    const repo = new GitRepo(t.dir, { timeoutMs: 400 });
    const started = Date.now();
    await expect(repo.readBlobs([blob])).rejects.toThrow(
      "git cat-file timed out after 400 ms and was killed",
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    // A git that fails quickly is an answer, not a timeout.
    expect(await repo.resolveCommit("no-such-ref")).toBeUndefined();
  });
});

describe("commit ranges", () => {
  it("treats an all-zero base as a first push and compares with the default branch's merge base", async () => {
    const t = newRepo();
    const main = t.write({ "a.txt": "a\n" }).commit();
    t.git("checkout", "-q", "-b", "feature");
    const head = t.write({ "b.txt": "b\n" }).commit();
    const range = await resolveRange(new GitRepo(t.dir), {
      base: "0".repeat(40),
      head,
      defaultBranch: "main",
    });
    expect(range).toMatchObject({ base: main, head });
    expect(range.note).toContain("first push");
  });

  it("falls back to the empty tree when a first push shares nothing with the default branch", async () => {
    const t = newRepo();
    const head = t.write({ "a.txt": "a\n" }).commit();
    const range = await resolveRange(new GitRepo(t.dir), { base: "0".repeat(40), head });
    expect(range.base).toBe(EMPTY_TREE);
  });

  it("uses the merge base after a force push", async () => {
    const t = newRepo();
    const root = t.write({ "a.txt": "a\n" }).commit();
    const old = t.write({ "b.txt": "old\n" }).commit();
    t.git("reset", "-q", "--hard", root);
    const head = t.write({ "b.txt": "new\n" }).commit();
    const range = await resolveRange(new GitRepo(t.dir), { base: old, head });
    expect(range.base).toBe(root);
    expect(range.note).toContain("force push");
  });

  it("asks git for the merge base of a pair of commits once, then answers from the memo", async () => {
    const t = newRepo();
    const root = t.write({ "a.txt": "a\n" }).commit();
    const old = t.write({ "b.txt": "old\n" }).commit();
    t.git("reset", "-q", "--hard", root);
    const head = t.write({ "b.txt": "new\n" }).commit();
    const repo = new GitRepo(t.dir);
    const asked: string[][] = [];
    const mergeBase = repo.mergeBase.bind(repo);
    repo.mergeBase = (a: string, b: string) => {
      asked.push([a, b]);
      return mergeBase(a, b);
    };
    const memo = new MergeBaseMemo(1);
    const first = await resolveRange(repo, { base: old, head }, () => false, memo);
    const again = await resolveRange(repo, { base: old, head }, () => false, memo);
    expect(again).toEqual(first);
    expect(first.base).toBe(root);
    expect(asked).toEqual([[old, head]]);
    // Bounded: another pair pushes the first one out.
    await resolveRange(repo, { base: root, head }, () => false, memo);
    await resolveRange(repo, { base: old, head }, () => false, memo);
    expect(asked).toEqual([
      [old, head],
      [root, head],
      [old, head],
    ]);
  });

  it("rejects an unknown head", async () => {
    const t = newRepo();
    t.write({ "a.txt": "a\n" }).commit();
    await expect(resolveRange(new GitRepo(t.dir), { head: "nope" })).rejects.toThrow(
      'unknown revision "nope"',
    );
  });
});
