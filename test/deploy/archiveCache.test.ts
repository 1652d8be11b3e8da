import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveCache } from "../../src/deploy/archiveCache.ts";

let repo: string;
let commit: string;
const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], {
    cwd: repo,
    encoding: "utf8",
  }).trim();

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), "sp-archive-"));
  git("init", "-q");
  writeFileSync(join(repo, "a.txt"), "a\n");
  writeFileSync(join(repo, "*"), "a file named star\n");
  writeFileSync(join(repo, "big.bin"), randomBytes(300_000));
  git("add", "-A");
  git("commit", "-qm", "c");
  commit = git("rev-parse", "HEAD");
});
afterAll(() => rmSync(repo, { recursive: true, force: true }));

const members = (tgz: Buffer) =>
  execFileSync("tar", ["-t", "-z", "-f", "-"], { input: tgz }).toString().split("\n").filter(Boolean);

describe("release archives shared by every host", () => {
  it("runs one git archive for concurrent requests of the same files, and literal paths", async () => {
    const cache = new ArchiveCache();
    const [x, y] = await Promise.all([
      cache.get(repo, commit, ["*", "a.txt"]),
      cache.get(repo, commit, ["*", "a.txt"]),
    ]);
    expect(cache.spawned).toBe(1);
    expect(x).toBe(y);
    expect(members(x as Buffer)).toEqual(["*", "a.txt"]);
    expect(await cache.get(repo, commit, ["*", "a.txt"])).toBe(x);
    await cache.get(repo, commit, ["a.txt"]);
    expect(cache.spawned).toBe(2);
  });

  it("keeps none bigger than maxEntryBytes (the caller streams those) and remembers that", async () => {
    const cache = new ArchiveCache({ maxEntryBytes: 10_000 });
    expect(await cache.get(repo, commit, ["big.bin"])).toBeUndefined();
    expect(await cache.get(repo, commit, ["big.bin"])).toBeUndefined();
    expect(cache.spawned).toBe(1);
  });

  it("does not keep a failure", async () => {
    const cache = new ArchiveCache();
    await expect(cache.get(repo, "f".repeat(40), ["a.txt"])).rejects.toThrow("git archive failed");
    await expect(cache.get(repo, "f".repeat(40), ["a.txt"])).rejects.toThrow("git archive failed");
    expect(cache.spawned).toBe(2);
  });

  it("drops the least recently used beyond maxTotalBytes", async () => {
    const cache = new ArchiveCache({ maxTotalBytes: 1 });
    await cache.get(repo, commit, ["a.txt"]);
    await cache.get(repo, commit, ["*"]);
    await cache.get(repo, commit, ["a.txt"]);
    expect(cache.spawned).toBe(3);
  });
});
