// MirrorCache disk budget (LRU eviction) and repair of damaged mirrors, against a real git
// smart-HTTP server.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { auth, commitOf, filesUnder, git, mirrorFixture, randomText } from "../helpers/mirrorFixture.ts";

const f = mirrorFixture();

describe("MirrorCache: disk budget and damage", () => {
  /** Repos of about the same size: one incompressible 256 KiB file each. */
  function sizedRemote(fullName: string) {
    return f.remote(fullName, { "blob.bin": randomText(256 * 1024) });
  }

  it("evicts least recently used mirrors over the budget, never one in use", async () => {
    for (const n of ["acme/a", "acme/b", "acme/c", "acme/d"]) sizedRemote(n);
    const unbounded = f.newCache();
    for (const n of ["acme/a", "acme/b", "acme/c"]) await unbounded.ensure(f.source(n), auth);
    const sizes = (await unbounded.list()).map((m) => m.bytes);
    const unit = Math.max(...sizes);
    expect(Math.min(...sizes)).toBeGreaterThan(unit * 0.9);

    const logs: string[] = [];
    const cache = f.newCache({ maxBytes: Math.floor(unit * 3.5), log: (_l, m) => logs.push(m) });
    const names = async () => (await cache.list()).map((m) => m.fullName).sort();

    // a is the least recently used, but held: b goes instead.
    await cache.use(f.source("acme/a"), auth, async () => {
      const held = (await cache.list()).find((m) => m.fullName === "acme/a");
      expect(held?.inUse).toBe(true);
      await cache.ensure(f.source("acme/d"), auth);
      expect(await names()).toEqual(["acme/a", "acme/c", "acme/d"]);
    });
    expect(logs.some((l) => /evicted the mirror of acme\/b/.test(l))).toBe(true);

    // a was used until just now; c is now the least recently used.
    await cache.ensure(f.source("acme/b"), auth);
    expect(await names()).toEqual(["acme/a", "acme/b", "acme/d"]);
    const total = (await cache.list()).reduce((s, m) => s + m.bytes, 0);
    expect(total).toBeLessThanOrEqual(unit * 3.5);
  });

  it("spares mirrors used within minIdleMs even over budget", async () => {
    for (const n of ["acme/a", "acme/b"]) sizedRemote(n);
    const logs: string[] = [];
    const cache = f.newCache({ maxBytes: 1, minIdleMs: 60_000, log: (_l, m) => logs.push(m) });
    await cache.ensure(f.source("acme/a"), auth);
    await cache.ensure(f.source("acme/b"), auth);
    expect(await cache.list()).toHaveLength(2);
    expect(logs.some((l) => /over the budget/.test(l))).toBe(true);
    expect(await f.newCache({ maxBytes: 1 }).enforceBudget()).toHaveLength(2);
    expect(await cache.list()).toEqual([]);
  });

  const damages: [string, (dir: string) => void][] = [
    [
      "half deleted (HEAD, config and refs gone)",
      (dir) => {
        for (const f of ["HEAD", "config", "refs"]) rmSync(join(dir, f), { recursive: true, force: true });
      },
    ],
    [
      "object store wiped",
      (dir) => {
        for (const f of readdirSync(join(dir, "objects")))
          rmSync(join(dir, "objects", f), { recursive: true, force: true });
      },
    ],
    [
      "objects overwritten with garbage",
      (dir) => {
        for (const f of filesUnder(join(dir, "objects"))) writeFileSync(f, "garbage");
      },
    ],
    [
      "emptied",
      (dir) => {
        for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
      },
    ],
  ];

  it.each(damages)("re-clones a mirror that was %s", async (_name, damage) => {
    const { r } = f.remote("acme/app", { "compose.yaml": "services:\n  app: {}\n" });
    const logs: string[] = [];
    const cache = f.newCache({ log: (level, m) => logs.push(`${level} ${m}`) });
    const repo = await cache.ensure(f.source("acme/app"), auth);
    const head = r.commit({ "more.txt": "more\n" });
    damage(repo.dir);
    // A clone that died halfway, from a process long gone.
    const leftover = `${repo.dir}.tmp-999999-abcd1234`;
    execFileSync("mkdir", ["-p", join(leftover, "objects")]);

    const before = f.server.fetches();
    const again = await cache.ensure(f.source("acme/app"), auth);
    expect(f.server.fetches() - before).toBe(1);
    expect(again.dir).toBe(repo.dir);
    expect(await commitOf(again, "refs/heads/main")).toBe(head);
    const blob = (await again.lsTree(head)).get("compose.yaml");
    expect((await again.readBlobs([blob?.oid ?? ""])).get(blob?.oid ?? "")?.toString()).toBe(
      "services:\n  app: {}\n",
    );
    expect(git(again.dir, "fsck", "--connectivity-only", "--no-dangling")).toBe("");
    expect(logs.some((l) => l.startsWith("warn") && /damaged|cloning it again/.test(l))).toBe(true);
    expect(existsSync(leftover)).toBe(false);
  });
});
