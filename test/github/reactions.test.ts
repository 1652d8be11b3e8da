import { Octokit } from "@octokit/rest";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { react } from "../../src/github/api/reactions.ts";

const API = "https://api.github.com";
const octokit = () => new Octokit({ auth: "x", baseUrl: API, request: { retries: 0 } });

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});
afterAll(() => nock.enableNetConnect());

describe("react", () => {
  it("adds eyes, rocket and confused to an issue comment", async () => {
    for (const [i, content] of (["eyes", "rocket", "confused"] as const).entries()) {
      nock(API)
        .post("/repos/acme/infra/issues/comments/55/reactions", { content })
        .reply(201, { id: 100 + i, content });
      expect(await react(octokit(), { owner: "acme", repo: "infra", comment_id: 55, content })).toEqual({
        ok: true,
        id: 100 + i,
      });
    }
    expect(nock.isDone()).toBe(true);
  });

  it("reports a failure instead of throwing, since reactions are cosmetic", async () => {
    nock(API)
      .post("/repos/acme/infra/issues/comments/55/reactions")
      .reply(403, { message: "Resource not accessible" });
    const res = await react(octokit(), { owner: "acme", repo: "infra", comment_id: 55, content: "eyes" });
    expect(res.ok).toBe(false);
    expect(res.ok ? undefined : String(res.error)).toContain("Resource not accessible");
  });
});
