// MirrorCache against a real git smart-HTTP server (git http-backend behind a token check) on
// loopback: cloning, fetching, and keeping the installation token secret.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MirrorError } from "../../src/git/mirror.ts";
import { redact } from "../../src/git/secrets.ts";
import { createGitShim, type GitShim } from "../helpers/gitShim.ts";
import {
  auth,
  b64,
  commitOf,
  commitOnlyAt,
  filesUnder,
  git,
  mirrorFixture,
  SECRETS,
  TOKEN,
  WRONG,
} from "../helpers/mirrorFixture.ts";

const f = mirrorFixture();
const shims: GitShim[] = [];
afterEach(() => {
  for (const s of shims.splice(0)) s.remove();
});

describe("MirrorCache: clone and fetch", () => {
  it("clones a bare mirror on first use: branches, tags, PR heads, full trees and blobs", async () => {
    const { r, sha: main } = f.remote("Acme/App", { "stacks/web/compose.yaml": "services:\n  web: {}\n" });
    const feature = commitOnlyAt(r, "refs/heads/feature", { "f.txt": "feature\n" });
    r.bareGit("tag", "v1", main);
    const pr = commitOnlyAt(r, "refs/pull/1/head", { "pr.txt": "pr\n" });
    const merge = commitOnlyAt(r, "refs/pull/1/merge", { "merge.txt": "merge\n" });

    const cache = f.newCache();
    const repo = await cache.ensure(f.source("Acme/App", "main"), auth);

    const port = new URL(f.server.url).port;
    expect(repo.dir).toBe(join(f.mirrorsDir, `127.0.0.1_${port}`, "acme", "app.git"));
    expect(await commitOf(repo, "refs/heads/main")).toBe(main);
    expect(await commitOf(repo, "refs/heads/feature")).toBe(feature);
    expect(await commitOf(repo, "refs/tags/v1")).toBe(main);
    expect(await commitOf(repo, "refs/pull/1/head")).toBe(pr);
    // refs/pull/N/merge is not part of a mirror fetch unless asked for.
    expect(await commitOf(repo, "refs/pull/1/merge")).toBeUndefined();
    expect(await commitOf(repo, merge)).toBeUndefined();

    const tree = await repo.lsTree(main);
    const blob = tree.get("stacks/web/compose.yaml");
    expect(blob).toBeDefined();
    const blobs = await repo.readBlobs([blob?.oid ?? ""]);
    expect(blobs.get(blob?.oid ?? "")?.toString()).toBe("services:\n  web: {}\n");

    expect(git(repo.dir, "rev-parse", "--is-bare-repository")).toBe("true");
    expect(git(repo.dir, "symbolic-ref", "HEAD")).toBe("refs/heads/main");
    expect(git(repo.dir, "config", "--list")).not.toMatch(/partialclonefilter|promisor/i);
    expect(f.server.fetches("Acme/App")).toBe(1);

    const [info, ...rest] = await cache.list();
    expect(rest).toEqual([]);
    expect(info).toMatchObject({ dir: repo.dir, fullName: "Acme/App", inUse: false });
    expect(info?.bytes).toBeGreaterThan(0);
    // The lock file is gone once the clone is done.
    expect(existsSync(`${repo.dir}.lock`)).toBe(false);
  });

  it("fetches new commits, follows force pushes and prunes deleted branches and tags", async () => {
    const { r, sha: c1 } = f.remote("acme/app");
    commitOnlyAt(r, "refs/heads/old-feature", { "x.txt": "x\n" });
    r.bareGit("tag", "v0", c1);
    const cache = f.newCache();
    const repo = await cache.ensure(f.source("acme/app"), auth);
    expect(await commitOf(repo, "refs/heads/old-feature")).toBeDefined();

    const c2 = r.commit({ "b.txt": "2\n" }, "second");
    r.push(":refs/heads/old-feature");
    r.bareGit("tag", "-d", "v0");
    await cache.ensure(f.source("acme/app"), auth);
    expect(await commitOf(repo, "refs/heads/main")).toBe(c2);
    expect(await commitOf(repo, "refs/heads/old-feature")).toBeUndefined();
    expect(await commitOf(repo, "refs/tags/v0")).toBeUndefined();

    // Force push: main rewritten from c1, c2 dropped.
    r.work.git("reset", "-q", "--hard", c1);
    const c3 = r.commit({ "c.txt": "rewritten\n" }, "rewritten");
    await cache.ensure(f.source("acme/app"), auth);
    expect(await commitOf(repo, "refs/heads/main")).toBe(c3);
    expect(await repo.isAncestor(c2, c3)).toBe(false);
    expect(f.server.fetches("acme/app")).toBe(3);
  });

  it("fetches PR heads, refs outside the mirror refspecs and commit ids on request", async () => {
    const { r } = f.remote("acme/app");
    const cache = f.newCache();
    const repo = await cache.ensure(f.source("acme/app"), auth);

    const pr7 = commitOnlyAt(r, "refs/pull/7/head", { "pr7.txt": "7\n" });
    await cache.ensure(f.source("acme/app"), { ...auth, refs: ["refs/pull/7/head"] });
    expect(await commitOf(repo, "refs/pull/7/head")).toBe(pr7);

    // Reachable only from refs/pull/7/merge: fetched by id, in the same fetch as the rest.
    const hidden = commitOnlyAt(r, "refs/pull/7/merge", { "merge.txt": "m\n" });
    let before = f.server.fetches();
    await cache.ensure(f.source("acme/app"), { ...auth, refs: [hidden.toUpperCase()] });
    expect(await commitOf(repo, hidden)).toBe(hidden);
    expect(f.server.fetches() - before).toBe(1);

    await cache.ensure(f.source("acme/app"), { ...auth, refs: ["refs/pull/7/merge"] });
    expect(await commitOf(repo, "refs/pull/7/merge")).toBe(hidden);

    // Ids already present need no fetch at all.
    before = f.server.fetches();
    await cache.ensure(f.source("acme/app"), { ...auth, refs: [hidden, pr7] });
    expect(f.server.fetches()).toBe(before);

    const unknown = "0123456789abcdef0123456789abcdef01234567";
    const err = await cache
      .ensure(f.source("acme/app"), { ...auth, refs: [unknown] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MirrorError);
    expect(err).toMatchObject({ kind: "ref-not-found" });
    const gone = await cache
      .ensure(f.source("acme/app"), { ...auth, refs: ["refs/pull/99/merge"] })
      .catch((e: unknown) => e);
    expect(gone).toMatchObject({ kind: "ref-not-found" });
    expect(String((gone as Error).message)).toContain("refs/pull/99/merge");
    // The failed extras did not hurt the mirror.
    expect(await commitOf(repo, "refs/pull/7/head")).toBe(pr7);

    await expect(cache.ensure(f.source("acme/app"), { ...auth, refs: ["main"] })).rejects.toMatchObject({
      kind: "invalid",
    });
  });
});

describe("MirrorCache: the installation token", () => {
  it("refuses a wrong, missing or rotated token with a clear error that does not contain it", async () => {
    const { sha } = f.remote("acme/app");
    const cache = f.newCache();
    const wrong = (await cache
      .ensure(f.source("acme/app"), { token: WRONG })
      .catch((e: unknown) => e)) as MirrorError;
    expect(wrong).toBeInstanceOf(MirrorError);
    expect(wrong.kind).toBe("auth");
    expect(wrong.message).toMatch(/acme\/app.*refused.*token was rejected, has expired/);
    for (const text of [wrong.message, String(wrong.detail), String(wrong.stack), JSON.stringify(wrong)])
      for (const secret of SECRETS) expect(text).not.toContain(secret);
    // Nothing half-built is left behind.
    expect(await cache.list()).toEqual([]);
    const ownerDir = join(f.mirrorsDir, `127.0.0.1_${new URL(f.server.url).port}`, "acme");
    expect(readdirSync(ownerDir)).toEqual([]);

    await expect(cache.ensure(f.source("acme/app"), {})).rejects.toMatchObject({
      kind: "auth",
      message: expect.stringMatching(/no token was given/),
    });

    const repo = await cache.ensure(f.source("acme/app"), auth);
    // Token rotated on the server: the old one is refused, and the mirror is kept, not re-cloned.
    f.server.token = "ghs_RotatedToken000000000000000000000";
    await expect(cache.ensure(f.source("acme/app"), auth)).rejects.toMatchObject({ kind: "auth" });
    expect(await commitOf(repo, "refs/heads/main")).toBe(sha);
    const before = f.server.fetches();
    await cache.ensure(f.source("acme/app"), { token: f.server.token });
    expect(f.server.fetches()).toBe(before + 1);
    expect(await cache.list()).toHaveLength(1);
  });

  it("keeps the token out of argv, everything in the mirror directory, and the log", async () => {
    const { r } = f.remote("acme/app");
    const shim = createGitShim();
    shims.push(shim);
    const logs: string[] = [];
    const cache = f.newCache({ git: shim.bin, log: (level, msg) => logs.push(`${level} ${msg}`) });

    await cache.ensure(f.source("acme/app"), auth);
    r.commit({ "n.txt": "new\n" });
    const extra = commitOnlyAt(r, "refs/pull/3/merge", { "m.txt": "m\n" });
    await cache.ensure(f.source("acme/app"), { ...auth, refs: [extra, "refs/pull/3/merge"] });
    await expect(cache.ensure(f.source("acme/app"), { token: WRONG })).rejects.toMatchObject({
      kind: "auth",
    });
    await expect(
      cache.ensure(f.source("acme/app"), {
        token: TOKEN,
        refs: ["ffffffffffffffffffffffffffffffffffffffff"],
      }),
    ).rejects.toMatchObject({ kind: "ref-not-found" });

    const argv = shim.argv();
    expect(argv.some((line) => line.startsWith("fetch --prune") && line.includes("refs/pull/*/head"))).toBe(
      true,
    );
    for (const line of argv) {
      expect(line).not.toMatch(/authorization|extraheader|x-access-token/i);
      for (const secret of SECRETS) expect(line).not.toContain(secret);
    }

    const files = filesUnder(f.mirrorsDir);
    expect(files.some((f) => f.endsWith("/config"))).toBe(true);
    for (const file of files) {
      const content = readFileSync(file).toString("latin1");
      for (const secret of SECRETS) expect(content, file).not.toContain(secret);
    }
    const repoDir = cache.dirFor(f.source("acme/app"));
    expect(git(repoDir, "config", "--file", join(repoDir, "config"), "--list")).not.toMatch(
      /extraheader|credential|authorization/i,
    );

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

  it("fetches only from the allowed origin: another scheme, host or port is refused before any request", async () => {
    const { sha } = f.remote("acme/app");
    const cache = f.newCache();
    const served = new URL(f.server.url);
    for (const cloneUrl of [
      `https://127.0.0.1:${served.port}/acme/app.git`,
      // The same server by another name: still not the configured origin.
      `http://localhost:${served.port}/acme/app.git`,
      `http://127.0.0.1:${Number(served.port) + 1}/acme/app.git`,
      "https://github.com/acme/app.git",
    ]) {
      const err = (await cache
        .ensure({ cloneUrl, fullName: "acme/app" }, auth)
        .catch((e: unknown) => e)) as MirrorError;
      expect(err, cloneUrl).toBeInstanceOf(MirrorError);
      expect(err).toMatchObject({ kind: "invalid", permanent: true });
      expect(err.message).toBe(
        `clone URL of acme/app is on ${new URL(cloneUrl).origin}, not on the configured GitHub ${served.origin}: refused (set GHE_HOST and GHE_PROTOCOL for GitHub Enterprise)`,
      );
    }
    expect(f.server.requests).toEqual([]);
    expect(await cache.list()).toEqual([]);
    // The allowed origin in other spellings is the same origin.
    const repo = await cache.ensure(
      { cloneUrl: `HTTP://127.0.0.1:${served.port}/acme/app.git`, fullName: "acme/app" },
      auth,
    );
    expect(await commitOf(repo, "refs/heads/main")).toBe(sha);
    expect(() => f.newCache({ allowedOrigin: "ssh://github.com" })).toThrow(/must be http\(s\)/);
  });

  it("refuses clone URLs carrying credentials and odd repository names, without echoing them", async () => {
    const cache = f.newCache();
    const withCreds = {
      cloneUrl: `https://x-access-token:${TOKEN}@ghe.example.com/a/b.git`,
      fullName: "a/b",
    };
    const err = (await cache.ensure(withCreds, {}).catch((e: unknown) => e)) as MirrorError;
    expect(err.kind).toBe("invalid");
    expect(err.message).not.toContain(TOKEN);
    for (const fullName of ["../etc", "a/..", "a/b/c", "a", "a/b c"])
      expect(() => cache.dirFor({ cloneUrl: f.server.cloneUrl("a/b"), fullName })).toThrow(MirrorError);
    expect(() => cache.dirFor({ cloneUrl: "ssh://git@example.com/a/b.git", fullName: "a/b" })).toThrow(
      /http/,
    );
  });
});
