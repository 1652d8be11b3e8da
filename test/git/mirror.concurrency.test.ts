// MirrorCache concurrency against a real git smart-HTTP server: coalesced fetches, parallel
// repositories, lock files shared with other processes, timeouts.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { MirrorError } from "../../src/git/mirror.ts";
import { auth, commitOf, commitOnlyAt, mirrorFixture, TOKEN } from "../helpers/mirrorFixture.ts";

const f = mirrorFixture();

describe("MirrorCache: concurrency", () => {
  it("coalesces concurrent ensure() of one repository into one clone, then one fetch", async () => {
    f.remote("acme/app");
    const cache = f.newCache();
    const first = await Promise.all(
      Array.from({ length: 10 }, () => cache.ensure(f.source("acme/app"), auth)),
    );
    expect(new Set(first.map((r) => r.dir)).size).toBe(1);
    expect(f.server.fetches("acme/app")).toBe(1);

    // Callers arriving while a fetch runs wait for it.
    const gate = f.server.hold();
    const leader = cache.ensure(f.source("acme/app"), auth);
    await gate.arrived(1);
    const followers = Array.from({ length: 9 }, (_, i) =>
      cache.ensure(f.source("acme/app"), { ...auth, refs: i % 2 ? ["refs/heads/main"] : [] }),
    );
    gate.release();
    await Promise.all([leader, ...followers]);
    expect(f.server.fetches("acme/app")).toBe(2);
  });

  it("runs one more fetch, shared, for callers whose refs the running fetch does not cover", async () => {
    const { r } = f.remote("acme/app");
    const cache = f.newCache();
    await cache.ensure(f.source("acme/app"), auth);
    const hidden = commitOnlyAt(r, "refs/hidden/x", { "h.txt": "h\n" });
    const merge = commitOnlyAt(r, "refs/pull/2/merge", { "m.txt": "m\n" });
    const before = f.server.fetches();

    const gate = f.server.hold();
    const running = cache.ensure(f.source("acme/app"), auth);
    await gate.arrived(1);
    const byId = cache.ensure(f.source("acme/app"), { ...auth, refs: [hidden] });
    const byRef = cache.ensure(f.source("acme/app"), { ...auth, refs: ["refs/pull/2/merge"] });
    const plain = cache.ensure(f.source("acme/app"), auth);
    gate.release();
    const [, a, b] = await Promise.all([running, byId, byRef, plain]);
    expect(await commitOf(a, hidden)).toBe(hidden);
    expect(await commitOf(b, "refs/pull/2/merge")).toBe(merge);
    // The running fetch, then one for both late callers.
    expect(f.server.fetches() - before).toBe(2);
  });

  it("fetches different repositories in parallel, at most `concurrency` at once", async () => {
    for (const name of ["acme/a", "acme/b", "acme/c"]) f.remote(name);
    const cache = f.newCache({ concurrency: 2 });
    const gate = f.server.hold();
    const all = ["acme/a", "acme/b", "acme/c"].map((n) => cache.ensure(f.source(n), auth));
    await gate.arrived(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(gate.waiting()).toBe(2);
    gate.release();
    await Promise.all(all);
    expect(f.server.maxInFlight).toBe(2);
    expect(f.server.fetches()).toBe(3);

    const wide = f.newCache({ concurrency: 3 });
    const gate2 = f.server.hold();
    const again = ["acme/a", "acme/b", "acme/c"].map((n) => wide.ensure(f.source(n), auth));
    await gate2.arrived(3);
    gate2.release();
    await Promise.all(again);
  });

  it("serializes fetches of one mirror across processes sharing the directory", async () => {
    const { sha } = f.remote("acme/app");
    await f.newCache().ensure(f.source("acme/app"), auth);
    f.server.resetCounters();
    const gate = f.server.hold();
    let childReady!: () => void;
    const ready = new Promise<void>((r) => {
      childReady = r;
    });
    const child = f.runChild("acme/app", TOKEN, childReady);
    const ours = f.newCache().ensure(f.source("acme/app"), auth);
    await Promise.all([gate.arrived(1), ready]);
    await new Promise((r) => setTimeout(r, 500));
    // The second process waits at the lock file, not at the f.server.
    expect(gate.waiting()).toBe(1);
    gate.release();
    const [childOut, repo] = await Promise.all([child, ours]);
    expect(childOut).toEqual({ head: sha });
    expect(await commitOf(repo, "refs/heads/main")).toBe(sha);
    expect(f.server.fetches()).toBe(2);
    expect(f.server.maxInFlight).toBe(1);
  });

  it("takes over a lock file left by a dead process, and waits for a live one", async () => {
    f.remote("acme/app");
    const dir = f.newCache().dirFor(f.source("acme/app"));
    execFileSync("mkdir", ["-p", join(dir, "..")]);
    const dead = spawn("true");
    await new Promise((r) => dead.on("exit", r));
    const lockBody = (pid: number) => JSON.stringify({ pid, host: hostname(), id: "x", at: "" });
    writeFileSync(`${dir}.lock`, lockBody(dead.pid ?? 0));
    await f.newCache().ensure(f.source("acme/app"), auth);
    expect(existsSync(`${dir}.lock`)).toBe(false);

    const live = spawn("sleep", ["30"]);
    try {
      writeFileSync(`${dir}.lock`, lockBody(live.pid ?? 0));
      const started = Date.now();
      await expect(f.newCache({ lockWaitMs: 400 }).ensure(f.source("acme/app"), auth)).rejects.toMatchObject({
        kind: "locked",
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    } finally {
      live.kill("SIGKILL");
      await new Promise((r) => live.on("exit", r));
    }
    await f.newCache().ensure(f.source("acme/app"), auth);
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it("kills a git operation that outlives timeoutMs", async () => {
    f.remote("acme/app");
    const cache = f.newCache({ timeoutMs: 1500 });
    const gate = f.server.hold();
    try {
      const started = Date.now();
      const err = (await cache.ensure(f.source("acme/app"), auth).catch((e: unknown) => e)) as MirrorError;
      expect(err.kind).toBe("timeout");
      expect(err.message).toMatch(/timed out after 1500 ms/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      gate.release();
    }
    expect(await cache.list()).toEqual([]);
  });
});
