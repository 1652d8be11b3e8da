// A run's checkout: a real git server and a real mirror; GitHub's view of the branch tips is read
// from the served repository itself, as GitHub's API would answer it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MirrorCache } from "../../src/git/mirror.ts";
import { type CheckoutIo, checkout } from "../../src/github/jobs/runCheckout.ts";
import { loadPolicy } from "../../src/policy/load.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";

const FULL = "acme/rules";
const TOKEN = "ghs_checkout";
let tmp: string;
let git: GitHttpServer;
let remote: RemoteRepo;
let mirrors: MirrorCache;
let apiAnswers: boolean;

const config = (env: string) => `version: 1\ndefaults:\n  environment: ${env}\nenvironments:\n  ${env}: {}\n`;
const tipOf = (branch: string) =>
  execFileSync("git", ["rev-parse", `refs/heads/${branch}`], {
    cwd: remote.bareDir,
    encoding: "utf8",
  }).trim();

const io: CheckoutIo = {
  remoteTips: async (branches) => (apiAnswers ? new Map(branches.map((b) => [b, tipOf(b)])) : undefined),
  ensureCommits: (ids) =>
    mirrors.ensure({ cloneUrl: git.cloneUrl(FULL), fullName: FULL }, { token: TOKEN, refs: [...ids] }),
  fetch: (refs) =>
    mirrors.ensure({ cloneUrl: git.cloneUrl(FULL), fullName: FULL }, { token: TOKEN, refs: [...refs] }),
};

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-checkout-"));
  git = await startGitHttpServer({ token: TOKEN });
  remote = git.createRepo(FULL);
  remote.commit({ ".github/stackpilot.yml": config("staging") }, "init");
  mirrors = new MirrorCache({ dir: join(tmp, "mirrors"), allowedOrigin: git.url });
});

afterAll(async () => {
  await git?.close();
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  apiAnswers = true;
});

describe("a run's checkout", () => {
  it("fetches into a new mirror, then fetches nothing while GitHub's tips are the mirror's", async () => {
    const before = git.fetches(FULL);
    const first = await checkout(io, ["main"]);
    expect(first.tips.get("main")).toBe(tipOf("main"));
    expect(git.fetches(FULL)).toBe(before + 1);
    const again = await checkout(io, ["main"]);
    expect(again.tips.get("main")).toBe(tipOf("main"));
    expect(git.fetches(FULL)).toBe(before + 1);
  });

  it("fetches when the default branch moved, and the rules are read at its new commit", async () => {
    await checkout(io, ["main"]);
    remote.commit({ ".github/stackpilot.yml": config("production") }, "production rules");
    const before = git.fetches(FULL);
    const c = await checkout(io, ["main"]);
    expect(git.fetches(FULL)).toBeGreaterThan(before);
    expect(c.tips.get("main")).toBe(tipOf("main"));
    const policy = await loadPolicy(c.repo, "main", c.tips.get("main"));
    expect(policy.defaultEnvironment).toBe("production");
  });

  it("fetches when the mirror holds the new tip's commit under another ref but its branch is behind", async () => {
    await checkout(io, ["main"]);
    // The next commit of main reaches the mirror first as a pull request's head.
    const next = remote.commit({ ".github/stackpilot.yml": config("canary") }, "canary rules", "topic");
    remote.push(`+${next}:refs/pull/9/head`);
    await io.fetch(["refs/pull/9/head"]);
    remote.push(`+${next}:refs/heads/main`);
    const stale = (await io.ensureCommits([next])).branchTips(["main"]);
    expect((await stale).get("main")).not.toBe(next);
    const c = await checkout(io, ["main"]);
    expect(c.tips.get("main")).toBe(next);
    expect((await loadPolicy(c.repo, "main", c.tips.get("main"))).defaultEnvironment).toBe("canary");
  });

  it("fetches when GitHub's API gives no answer, and for refs outside the branches", async () => {
    await checkout(io, ["main"]);
    apiAnswers = false;
    let before = git.fetches(FULL);
    await checkout(io, ["main"]);
    expect(git.fetches(FULL)).toBe(before + 1);
    apiAnswers = true;
    before = git.fetches(FULL);
    await checkout(io, ["main"], ["refs/pull/9/head"]);
    expect(git.fetches(FULL)).toBe(before + 1);
  });

  it("a pushed head the mirror lacks is brought by id; the tips are still checked", async () => {
    await checkout(io, ["main"]);
    const pushed = remote.commit({ "docs/a.md": "a\n" }, "docs", "feature");
    const c = await checkout(io, ["main", "feature"], [pushed]);
    expect(c.tips.get("feature")).toBe(pushed);
    expect(await c.repo.resolveCommit(pushed)).toBe(pushed);
  });
});
