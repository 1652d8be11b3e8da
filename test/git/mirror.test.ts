// MirrorCache against a real git smart-HTTP server (git http-backend behind a token check) on loopback.
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MirrorCache, type MirrorCacheOptions, MirrorError, redact } from "../../src/git/mirror.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { createGitShim, type GitShim } from "../helpers/gitShim.ts";

const TOKEN = "ghs_TestInstallationToken0123456789abcd";
const WRONG = "ghs_WrongInstallationToken9876543210zyx";
const b64 = (token: string) => Buffer.from(`x-access-token:${token}`).toString("base64");
const SECRETS = [TOKEN, b64(TOKEN), WRONG, b64(WRONG)];

let server: GitHttpServer;
let tmp: string;
const shims: GitShim[] = [];

beforeEach(async () => {
  server = await startGitHttpServer({ token: TOKEN });
  tmp = mkdtempSync(join(tmpdir(), "sp-mirror-test-"));
});
afterEach(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
  for (const s of shims.splice(0)) s.remove();
});

const mirrorsDir = () => join(tmp, "mirrors");
const newCache = (opts: Partial<MirrorCacheOptions> = {}) =>
  new MirrorCache({ dir: mirrorsDir(), minIdleMs: 0, timeoutMs: 30_000, ...opts });
const source = (fullName: string, defaultBranch?: string) => ({
  cloneUrl: server.cloneUrl(fullName),
  fullName,
  ...(defaultBranch ? { defaultBranch } : {}),
});
const auth = { token: TOKEN };

/** A served repository with one commit on main. */
function remote(fullName: string, files: Record<string, string> = { "compose.yaml": "services: {}\n" }) {
  const r = server.createRepo(fullName);
  const sha = r.commit(files, "initial");
  return { r, sha };
}

/** A commit on a side branch of the work repo, pushed to `ref` only. */
function commitOnlyAt(r: RemoteRepo, ref: string, files: Record<string, string>): string {
  const back = r.work.git("rev-parse", "--abbrev-ref", "HEAD");
  r.work.git("checkout", "-q", "-b", `side-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  r.work.write(files);
  const sha = r.work.commit("side");
  r.push(`+${sha}:${ref}`);
  r.work.git("checkout", "-q", back);
  return sha;
}

const git = (dir: string, ...args: string[]) =>
  execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe("MirrorCache: clone and fetch", () => {
  it("clones a bare mirror on first use: branches, tags, PR heads, full trees and blobs", async () => {
    const { r, sha: main } = remote("Acme/App", { "stacks/web/compose.yaml": "services:\n  web: {}\n" });
    const feature = commitOnlyAt(r, "refs/heads/feature", { "f.txt": "feature\n" });
    r.bareGit("tag", "v1", main);
    const pr = commitOnlyAt(r, "refs/pull/1/head", { "pr.txt": "pr\n" });
    const merge = commitOnlyAt(r, "refs/pull/1/merge", { "merge.txt": "merge\n" });

    const cache = newCache();
    const repo = await cache.ensure(source("Acme/App", "main"), auth);

    const port = new URL(server.url).port;
    expect(repo.dir).toBe(join(mirrorsDir(), `127.0.0.1_${port}`, "acme", "app.git"));
    expect(await repo.resolveCommit("refs/heads/main")).toBe(main);
    expect(await repo.resolveCommit("refs/heads/feature")).toBe(feature);
    expect(await repo.resolveCommit("refs/tags/v1")).toBe(main);
    expect(await repo.resolveCommit("refs/pull/1/head")).toBe(pr);
    // refs/pull/N/merge is not part of a mirror fetch unless asked for.
    expect(await repo.resolveCommit("refs/pull/1/merge")).toBeUndefined();
    expect(await repo.resolveCommit(merge)).toBeUndefined();

    const tree = await repo.lsTree(main);
    const blob = tree.get("stacks/web/compose.yaml");
    expect(blob).toBeDefined();
    const blobs = await repo.readBlobs([blob?.oid ?? ""]);
    expect(blobs.get(blob?.oid ?? "")?.toString()).toBe("services:\n  web: {}\n");

    expect(git(repo.dir, "rev-parse", "--is-bare-repository")).toBe("true");
    expect(git(repo.dir, "symbolic-ref", "HEAD")).toBe("refs/heads/main");
    expect(git(repo.dir, "config", "--list")).not.toMatch(/partialclonefilter|promisor/i);
    expect(server.fetches("Acme/App")).toBe(1);

    const [info, ...rest] = await cache.list();
    expect(rest).toEqual([]);
    expect(info).toMatchObject({ dir: repo.dir, fullName: "Acme/App", inUse: false });
    expect(info?.bytes).toBeGreaterThan(0);
    // The lock file is gone once the clone is done.
    expect(existsSync(`${repo.dir}.lock`)).toBe(false);
  });

  it("fetches new commits, follows force pushes and prunes deleted branches and tags", async () => {
    const { r, sha: c1 } = remote("acme/app");
    commitOnlyAt(r, "refs/heads/old-feature", { "x.txt": "x\n" });
    r.bareGit("tag", "v0", c1);
    const cache = newCache();
    const repo = await cache.ensure(source("acme/app"), auth);
    expect(await repo.resolveCommit("refs/heads/old-feature")).toBeDefined();

    const c2 = r.commit({ "b.txt": "2\n" }, "second");
    r.push(":refs/heads/old-feature");
    r.bareGit("tag", "-d", "v0");
    await cache.ensure(source("acme/app"), auth);
    expect(await repo.resolveCommit("refs/heads/main")).toBe(c2);
    expect(await repo.resolveCommit("refs/heads/old-feature")).toBeUndefined();
    expect(await repo.resolveCommit("refs/tags/v0")).toBeUndefined();

    // Force push: main rewritten from c1, c2 dropped.
    r.work.git("reset", "-q", "--hard", c1);
    const c3 = r.commit({ "c.txt": "rewritten\n" }, "rewritten");
    await cache.ensure(source("acme/app"), auth);
    expect(await repo.resolveCommit("refs/heads/main")).toBe(c3);
    expect(await repo.isAncestor(c2, c3)).toBe(false);
    expect(server.fetches("acme/app")).toBe(3);
  });

  it("fetches PR heads, refs outside the mirror refspecs and commit ids on request", async () => {
    const { r } = remote("acme/app");
    const cache = newCache();
    const repo = await cache.ensure(source("acme/app"), auth);

    const pr7 = commitOnlyAt(r, "refs/pull/7/head", { "pr7.txt": "7\n" });
    await cache.ensure(source("acme/app"), { ...auth, refs: ["refs/pull/7/head"] });
    expect(await repo.resolveCommit("refs/pull/7/head")).toBe(pr7);

    // Reachable only from refs/pull/7/merge: fetched by id, in the same fetch as the rest.
    const hidden = commitOnlyAt(r, "refs/pull/7/merge", { "merge.txt": "m\n" });
    let before = server.fetches();
    await cache.ensure(source("acme/app"), { ...auth, refs: [hidden.toUpperCase()] });
    expect(await repo.resolveCommit(hidden)).toBe(hidden);
    expect(server.fetches() - before).toBe(1);

    await cache.ensure(source("acme/app"), { ...auth, refs: ["refs/pull/7/merge"] });
    expect(await repo.resolveCommit("refs/pull/7/merge")).toBe(hidden);

    // Ids already present need no fetch at all.
    before = server.fetches();
    await cache.ensure(source("acme/app"), { ...auth, refs: [hidden, pr7] });
    expect(server.fetches()).toBe(before);

    const unknown = "0123456789abcdef0123456789abcdef01234567";
    const err = await cache.ensure(source("acme/app"), { ...auth, refs: [unknown] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MirrorError);
    expect(err).toMatchObject({ kind: "ref-not-found" });
    const gone = await cache
      .ensure(source("acme/app"), { ...auth, refs: ["refs/pull/99/merge"] })
      .catch((e: unknown) => e);
    expect(gone).toMatchObject({ kind: "ref-not-found" });
    expect(String((gone as Error).message)).toContain("refs/pull/99/merge");
    // The failed extras did not hurt the mirror.
    expect(await repo.resolveCommit("refs/pull/7/head")).toBe(pr7);

    await expect(cache.ensure(source("acme/app"), { ...auth, refs: ["main"] })).rejects.toMatchObject({
      kind: "invalid",
    });
  });
});

describe("MirrorCache: the installation token", () => {
  it("refuses a wrong, missing or rotated token with a clear error that does not contain it", async () => {
    const { sha } = remote("acme/app");
    const cache = newCache();
    const wrong = (await cache
      .ensure(source("acme/app"), { token: WRONG })
      .catch((e: unknown) => e)) as MirrorError;
    expect(wrong).toBeInstanceOf(MirrorError);
    expect(wrong.kind).toBe("auth");
    expect(wrong.message).toMatch(/acme\/app.*refused.*token was rejected, has expired/);
    for (const text of [wrong.message, String(wrong.detail), String(wrong.stack), JSON.stringify(wrong)])
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    // Nothing half-built is left behind.
    expect(await cache.list()).toEqual([]);
    const ownerDir = join(mirrorsDir(), `127.0.0.1_${new URL(server.url).port}`, "acme");
    expect(readdirSync(ownerDir)).toEqual([]);

    await expect(cache.ensure(source("acme/app"), {})).rejects.toMatchObject({
      kind: "auth",
      message: expect.stringMatching(/no token was given/),
    });

    const repo = await cache.ensure(source("acme/app"), auth);
    // Token rotated on the server: the old one is refused, and the mirror is kept, not re-cloned.
    server.token = "ghs_RotatedToken000000000000000000000";
    await expect(cache.ensure(source("acme/app"), auth)).rejects.toMatchObject({ kind: "auth" });
    expect(await repo.resolveCommit("refs/heads/main")).toBe(sha);
    const before = server.fetches();
    await cache.ensure(source("acme/app"), { token: server.token });
    expect(server.fetches()).toBe(before + 1);
    expect(await cache.list()).toHaveLength(1);
  });

  it("keeps the token out of argv, everything in the mirror directory, and the log", async () => {
    const { r } = remote("acme/app");
    const shim = createGitShim();
    shims.push(shim);
    const logs: string[] = [];
    const cache = newCache({ git: shim.bin, log: (level, msg) => logs.push(`${level} ${msg}`) });

    await cache.ensure(source("acme/app"), auth);
    r.commit({ "n.txt": "new\n" });
    const extra = commitOnlyAt(r, "refs/pull/3/merge", { "m.txt": "m\n" });
    await cache.ensure(source("acme/app"), { ...auth, refs: [extra, "refs/pull/3/merge"] });
    await expect(cache.ensure(source("acme/app"), { token: WRONG })).rejects.toMatchObject({ kind: "auth" });
    await expect(
      cache.ensure(source("acme/app"), { token: TOKEN, refs: ["ffffffffffffffffffffffffffffffffffffffff"] }),
    ).rejects.toMatchObject({ kind: "ref-not-found" });

    const argv = shim.argv();
    expect(argv.some((line) => line.startsWith("fetch --prune") && line.includes("refs/pull/*/head"))).toBe(
      true,
    );
    for (const line of argv) {
      expect(line).not.toMatch(/authorization|extraheader|x-access-token/i);
      for (const secret of SECRETS) expect(line).not.toContain(secret);
    }

    const files = filesUnder(mirrorsDir());
    expect(files.some((f) => f.endsWith("/config"))).toBe(true);
    for (const file of files) {
      const content = readFileSync(file).toString("latin1");
      for (const secret of SECRETS) expect(content, file).not.toContain(secret);
    }
    const repoDir = cache.dirFor(source("acme/app"));
    expect(git(repoDir, "config", "--list")).not.toMatch(/extraheader|credential|authorization/i);

    expect(logs.length).toBeGreaterThan(0);
    expect(logs.some((l) => l.includes("refused"))).toBe(true);
    for (const line of logs) for (const secret of SECRETS) expect(line).not.toContain(secret);
  });

  it("redacts tokens in every form", () => {
    const text = `token ${TOKEN} header Authorization: Basic ${b64(TOKEN)} url https://x-access-token:${TOKEN}@ghe.example.com/a/b.git other ghp_abcdefghijklmnopqrstuvwxyz`;
    const out = redact(text, [TOKEN]);
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(b64(TOKEN));
    expect(out).not.toContain("ghp_abcdefghijklmnop");
    expect(out).toContain("Authorization: Basic ***");
  });

  it("refuses clone URLs carrying credentials and odd repository names, without echoing them", async () => {
    const cache = newCache();
    const withCreds = {
      cloneUrl: `https://x-access-token:${TOKEN}@ghe.example.com/a/b.git`,
      fullName: "a/b",
    };
    const err = (await cache.ensure(withCreds, {}).catch((e: unknown) => e)) as MirrorError;
    expect(err.kind).toBe("invalid");
    expect(err.message).not.toContain(TOKEN);
    for (const fullName of ["../etc", "a/..", "a/b/c", "a", "a/b c"])
      expect(() => cache.dirFor({ cloneUrl: server.cloneUrl("a/b"), fullName })).toThrow(MirrorError);
    expect(() => cache.dirFor({ cloneUrl: "ssh://git@example.com/a/b.git", fullName: "a/b" })).toThrow(
      /http/,
    );
  });
});

describe("MirrorCache: concurrency", () => {
  it("coalesces concurrent ensure() of one repository into one clone, then one fetch", async () => {
    remote("acme/app");
    const cache = newCache();
    const first = await Promise.all(Array.from({ length: 10 }, () => cache.ensure(source("acme/app"), auth)));
    expect(new Set(first.map((r) => r.dir)).size).toBe(1);
    expect(server.fetches("acme/app")).toBe(1);

    // Callers arriving while a fetch runs wait for it.
    const gate = server.hold();
    const leader = cache.ensure(source("acme/app"), auth);
    await gate.arrived(1);
    const followers = Array.from({ length: 9 }, (_, i) =>
      cache.ensure(source("acme/app"), { ...auth, refs: i % 2 ? ["refs/heads/main"] : [] }),
    );
    gate.release();
    await Promise.all([leader, ...followers]);
    expect(server.fetches("acme/app")).toBe(2);
  });

  it("runs one more fetch, shared, for callers whose refs the running fetch does not cover", async () => {
    const { r } = remote("acme/app");
    const cache = newCache();
    await cache.ensure(source("acme/app"), auth);
    const hidden = commitOnlyAt(r, "refs/hidden/x", { "h.txt": "h\n" });
    const merge = commitOnlyAt(r, "refs/pull/2/merge", { "m.txt": "m\n" });
    const before = server.fetches();

    const gate = server.hold();
    const running = cache.ensure(source("acme/app"), auth);
    await gate.arrived(1);
    const byId = cache.ensure(source("acme/app"), { ...auth, refs: [hidden] });
    const byRef = cache.ensure(source("acme/app"), { ...auth, refs: ["refs/pull/2/merge"] });
    const plain = cache.ensure(source("acme/app"), auth);
    gate.release();
    const [, a, b] = await Promise.all([running, byId, byRef, plain]);
    expect(await a.resolveCommit(hidden)).toBe(hidden);
    expect(await b.resolveCommit("refs/pull/2/merge")).toBe(merge);
    // The running fetch, then one for both late callers.
    expect(server.fetches() - before).toBe(2);
  });

  it("fetches different repositories in parallel, at most `concurrency` at once", async () => {
    for (const name of ["acme/a", "acme/b", "acme/c"]) remote(name);
    const cache = newCache({ concurrency: 2 });
    const gate = server.hold();
    const all = ["acme/a", "acme/b", "acme/c"].map((n) => cache.ensure(source(n), auth));
    await gate.arrived(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(gate.waiting()).toBe(2);
    gate.release();
    await Promise.all(all);
    expect(server.maxInFlight).toBe(2);
    expect(server.fetches()).toBe(3);

    const wide = newCache({ concurrency: 3 });
    const gate2 = server.hold();
    const again = ["acme/a", "acme/b", "acme/c"].map((n) => wide.ensure(source(n), auth));
    await gate2.arrived(3);
    gate2.release();
    await Promise.all(again);
  });

  it("serializes fetches of one mirror across processes sharing the directory", async () => {
    const { sha } = remote("acme/app");
    await newCache().ensure(source("acme/app"), auth);
    server.resetCounters();
    const gate = server.hold();
    const child = runChild(["acme/app", TOKEN]);
    const ours = newCache().ensure(source("acme/app"), auth);
    await gate.arrived(1);
    await new Promise((r) => setTimeout(r, 500));
    // The second process waits at the lock file, not at the server.
    expect(gate.waiting()).toBe(1);
    gate.release();
    const [childOut, repo] = await Promise.all([child, ours]);
    expect(childOut).toEqual({ head: sha });
    expect(await repo.resolveCommit("refs/heads/main")).toBe(sha);
    expect(server.fetches()).toBe(2);
    expect(server.maxInFlight).toBe(1);
  });

  it("takes over a lock file left by a dead process, and waits for a live one", async () => {
    remote("acme/app");
    const dir = newCache().dirFor(source("acme/app"));
    execFileSync("mkdir", ["-p", join(dir, "..")]);
    const dead = spawn("true");
    await new Promise((r) => dead.on("exit", r));
    const lockBody = (pid: number) => JSON.stringify({ pid, host: hostname(), id: "x", at: "" });
    writeFileSync(`${dir}.lock`, lockBody(dead.pid ?? 0));
    await newCache().ensure(source("acme/app"), auth);
    expect(existsSync(`${dir}.lock`)).toBe(false);

    const live = spawn("sleep", ["30"]);
    try {
      writeFileSync(`${dir}.lock`, lockBody(live.pid ?? 0));
      const started = Date.now();
      await expect(newCache({ lockWaitMs: 400 }).ensure(source("acme/app"), auth)).rejects.toMatchObject({
        kind: "locked",
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    } finally {
      live.kill("SIGKILL");
      await new Promise((r) => live.on("exit", r));
    }
    await newCache().ensure(source("acme/app"), auth);
    expect(existsSync(`${dir}.lock`)).toBe(false);
  });

  it("kills a git operation that outlives timeoutMs", async () => {
    remote("acme/app");
    const cache = newCache({ timeoutMs: 1500 });
    const gate = server.hold();
    try {
      const started = Date.now();
      const err = (await cache.ensure(source("acme/app"), auth).catch((e: unknown) => e)) as MirrorError;
      expect(err.kind).toBe("timeout");
      expect(err.message).toMatch(/timed out after 1500 ms/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      gate.release();
    }
    expect(await cache.list()).toEqual([]);
  });
});

describe("MirrorCache: disk budget and damage", () => {
  /** Repos of about the same size: one incompressible 256 KiB file each. */
  function sizedRemote(fullName: string) {
    return remote(fullName, { "blob.bin": randomText(256 * 1024) });
  }

  it("evicts least recently used mirrors over the budget, never one in use", async () => {
    for (const n of ["acme/a", "acme/b", "acme/c", "acme/d"]) sizedRemote(n);
    const unbounded = newCache();
    for (const n of ["acme/a", "acme/b", "acme/c"]) await unbounded.ensure(source(n), auth);
    const sizes = (await unbounded.list()).map((m) => m.bytes);
    const unit = Math.max(...sizes);
    expect(Math.min(...sizes)).toBeGreaterThan(unit * 0.9);

    const logs: string[] = [];
    const cache = newCache({ maxBytes: Math.floor(unit * 3.5), log: (_l, m) => logs.push(m) });
    const names = async () => (await cache.list()).map((m) => m.fullName).sort();

    // a is the least recently used, but held: b goes instead.
    await cache.use(source("acme/a"), {}, async () => {
      const held = (await cache.list()).find((m) => m.fullName === "acme/a");
      expect(held?.inUse).toBe(true);
      await cache.ensure(source("acme/d"), auth);
      expect(await names()).toEqual(["acme/a", "acme/c", "acme/d"]);
    });
    expect(logs.some((l) => /evicted the mirror of acme\/b/.test(l))).toBe(true);

    // a was used until just now; c is now the least recently used.
    await cache.ensure(source("acme/b"), auth);
    expect(await names()).toEqual(["acme/a", "acme/b", "acme/d"]);
    const total = (await cache.list()).reduce((s, m) => s + m.bytes, 0);
    expect(total).toBeLessThanOrEqual(unit * 3.5);
  });

  it("spares mirrors used within minIdleMs even over budget", async () => {
    for (const n of ["acme/a", "acme/b"]) sizedRemote(n);
    const logs: string[] = [];
    const cache = newCache({ maxBytes: 1, minIdleMs: 60_000, log: (_l, m) => logs.push(m) });
    await cache.ensure(source("acme/a"), auth);
    await cache.ensure(source("acme/b"), auth);
    expect(await cache.list()).toHaveLength(2);
    expect(logs.some((l) => /over the budget/.test(l))).toBe(true);
    expect(await newCache({ maxBytes: 1 }).enforceBudget()).toHaveLength(2);
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
    const { r } = remote("acme/app", { "compose.yaml": "services:\n  app: {}\n" });
    const logs: string[] = [];
    const cache = newCache({ log: (level, m) => logs.push(`${level} ${m}`) });
    const repo = await cache.ensure(source("acme/app"), auth);
    const head = r.commit({ "more.txt": "more\n" });
    damage(repo.dir);
    // A clone that died halfway, from a process long gone.
    const leftover = `${repo.dir}.tmp-999999-abcd1234`;
    execFileSync("mkdir", ["-p", join(leftover, "objects")]);

    const before = server.fetches();
    const again = await cache.ensure(source("acme/app"), auth);
    expect(server.fetches() - before).toBe(1);
    expect(again.dir).toBe(repo.dir);
    expect(await again.resolveCommit("refs/heads/main")).toBe(head);
    const blob = (await again.lsTree(head)).get("compose.yaml");
    expect((await again.readBlobs([blob?.oid ?? ""])).get(blob?.oid ?? "")?.toString()).toBe(
      "services:\n  app: {}\n",
    );
    expect(git(again.dir, "fsck", "--connectivity-only", "--no-dangling")).toBe("");
    expect(logs.some((l) => l.startsWith("warn") && /damaged|cloning it again/.test(l))).toBe(true);
    expect(existsSync(leftover)).toBe(false);
  });
});

function randomText(bytes: number): string {
  return execFileSync("head", ["-c", String(bytes), "/dev/urandom"]).toString("base64");
}

/** MirrorCache.ensure() in another Node process (test/helpers/mirrorChild.ts). */
function runChild(args: string[]): Promise<unknown> {
  const [fullName, token] = args as [string, string];
  const script = join(import.meta.dirname, "..", "helpers", "mirrorChild.ts");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, mirrorsDir(), server.cloneUrl(fullName), fullName, token],
      { encoding: "utf8", timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && !stdout) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout));
      },
    );
  });
}
