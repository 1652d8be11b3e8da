// Repositories known by name: GitHub simulated by nock, answers kept for a bounded time.
import nock from "nock";
import { ProbotOctokit } from "probot";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RepositoryNotInstalled, repositoryDirectory } from "../../src/github/api/repositoryDirectory.ts";

const API = "https://api.github.com";
const octokit = () =>
  new ProbotOctokit({ auth: { token: "x" }, retry: { enabled: false }, throttle: { enabled: false } });
const app = { auth: async () => octokit() } as never;

function lookup(times = 1, branch = "main") {
  return nock(API)
    .get("/repos/acme/shop/installation")
    .times(times)
    .reply(200, { id: 42 })
    .get("/repos/acme/shop")
    .times(times)
    .reply(200, {
      name: "shop",
      full_name: "acme/shop",
      owner: { login: "acme" },
      clone_url: "https://github.com/acme/shop.git",
      default_branch: branch,
    });
}

beforeEach(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

describe("repositoryDirectory", () => {
  it("asks GitHub once for concurrent and repeated lookups within the time to live", async () => {
    lookup(1);
    const dir = repositoryDirectory(app, { ttlMs: 60_000 });
    const [a, b] = await Promise.all([dir.resolve("acme/shop"), dir.resolve("Acme/Shop")]);
    const c = await dir.resolve("acme/shop");
    for (const ref of [a, b, c])
      expect(ref).toEqual({
        installationId: 42,
        owner: "acme",
        name: "shop",
        fullName: "acme/shop",
        cloneUrl: "https://github.com/acme/shop.git",
        defaultBranch: "main",
      });
  });

  it("asks again once the time to live has passed (a renamed default branch is seen)", async () => {
    lookup(1, "main");
    const dir = repositoryDirectory(app, { ttlMs: 50 });
    expect((await dir.resolve("acme/shop")).defaultBranch).toBe("main");
    await new Promise((r) => setTimeout(r, 80));
    lookup(1, "trunk");
    expect((await dir.resolve("acme/shop")).defaultBranch).toBe("trunk");
  });

  it("a repository without the App is a permanent refusal, and is not remembered", async () => {
    nock(API).get("/repos/acme/shop/installation").reply(404, { message: "Not Found" });
    const dir = repositoryDirectory(app);
    const err = await dir.resolve("acme/shop").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RepositoryNotInstalled);
    expect((err as Error).message).toContain("not installed on acme/shop");
    lookup(1);
    expect((await dir.resolve("acme/shop")).installationId).toBe(42);
  });
});
