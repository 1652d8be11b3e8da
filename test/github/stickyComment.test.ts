import { Octokit } from "@octokit/rest";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { boundComment, COMMENT_LIMIT, upsertStickyComment } from "../../src/github/stickyComment.ts";

const API = "https://api.github.com";
const MARKER = "<!-- stackpilot:plan -->";
const octokit = () => new Octokit({ auth: "x", baseUrl: API, request: { retries: 0 } });
const target = { owner: "acme", repo: "infra", issue_number: 7, marker: MARKER };
const comment = (id: number, body: string, login = "someone") => ({
  id,
  body,
  user: { login, type: "User" },
});
const filler = (from: number, n: number) => Array.from({ length: n }, (_, i) => comment(from + i, "LGTM"));
const LIST = "/repos/acme/infra/issues/7/comments";

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});
afterAll(() => nock.enableNetConnect());

describe("upsertStickyComment", () => {
  it("creates a comment when none holds the marker", async () => {
    nock(API)
      .get(LIST)
      .query({ per_page: "100", page: "1" })
      .reply(200, [comment(1, "nice"), comment(2, "<!-- other:marker -->")]);
    nock(API)
      .post(LIST, { body: `${MARKER}\nplan` })
      .reply(201, comment(3, `${MARKER}\nplan`, "stackpilot[bot]"));
    const res = await upsertStickyComment(octokit(), { ...target, body: `${MARKER}\nplan` });
    expect(res).toMatchObject({ action: "created", comment: { id: 3 } });
    expect(nock.isDone()).toBe(true);
  });

  it("updates the marked comment in place", async () => {
    nock(API)
      .get(LIST)
      .query({ per_page: "100", page: "1" })
      .reply(200, [comment(1, "hi"), comment(42, `${MARKER}\nold`, "stackpilot[bot]")]);
    nock(API)
      .patch("/repos/acme/infra/issues/comments/42", { body: `${MARKER}\nnew` })
      .reply(200, comment(42, "x"));
    const res = await upsertStickyComment(octokit(), { ...target, body: `${MARKER}\nnew` });
    expect(res).toMatchObject({ action: "updated", comment: { id: 42 } });
    expect(nock.isDone()).toBe(true);
  });

  it("finds the marker comment on page 2, following the Link header", async () => {
    nock(API)
      .get(LIST)
      .query({ per_page: "100", page: "1" })
      .reply(200, filler(1, 100), {
        link: `<${API}${LIST}?per_page=100&page=2>; rel="next", <${API}${LIST}?per_page=100&page=3>; rel="last"`,
      });
    nock(API)
      .get(LIST)
      .query({ per_page: "100", page: "2" })
      .reply(200, [comment(150, `intro\n${MARKER}\nold`, "stackpilot[bot]")], {
        link: `<${API}${LIST}?per_page=100&page=3>; rel="next"`,
      });
    nock(API)
      .patch("/repos/acme/infra/issues/comments/150", { body: `${MARKER}\nnew` })
      .reply(200, comment(150, "x"));
    const res = await upsertStickyComment(octokit(), { ...target, body: `${MARKER}\nnew` });
    // Page 3 is never fetched: a bot's marked comment settles it.
    expect(res.action).toBe("updated");
    expect(nock.isDone()).toBe(true);
  });

  it("prefers the app's comment over an earlier human one that quotes the marker", async () => {
    nock(API)
      .get(LIST)
      .query({ per_page: "100", page: "1" })
      .reply(200, [comment(5, `pasted ${MARKER}`, "mallory"), comment(9, MARKER, "stackpilot[bot]")]);
    nock(API).patch("/repos/acme/infra/issues/comments/9").reply(200, comment(9, "x"));
    expect((await upsertStickyComment(octokit(), { ...target, body: "new" })).comment.id).toBe(9);
  });

  it("falls back to a human's marked comment only without a bot login, and never with one", async () => {
    const page = [comment(5, `pasted ${MARKER}`, "mallory"), comment(6, MARKER, "other-app[bot]")];
    nock(API).get(LIST).query(true).reply(200, page);
    nock(API).patch("/repos/acme/infra/issues/comments/6").reply(200, comment(6, "x"));
    expect((await upsertStickyComment(octokit(), { ...target, body: "a" })).comment.id).toBe(6);

    nock(API).get(LIST).query(true).reply(200, [page[0]]);
    nock(API).patch("/repos/acme/infra/issues/comments/5").reply(200, comment(5, "x"));
    expect((await upsertStickyComment(octokit(), { ...target, body: "a" })).comment.id).toBe(5);

    nock(API).get(LIST).query(true).reply(200, page);
    nock(API).post(LIST).reply(201, comment(10, "x"));
    const res = await upsertStickyComment(octokit(), { ...target, body: "a", botLogin: "Stackpilot[bot]" });
    expect(res.action).toBe("created");
    expect(nock.isDone()).toBe(true);
  });

  it("adds the marker when the body lacks it", async () => {
    nock(API).get(LIST).query(true).reply(200, []);
    nock(API)
      .post(LIST, { body: `${MARKER}\nhello` })
      .reply(201, comment(1, "x"));
    await upsertStickyComment(octokit(), { ...target, body: "hello" });
    expect(nock.isDone()).toBe(true);
  });

  it("truncates a body over 65,536 characters, keeping the marker", async () => {
    let sent = "";
    nock(API).get(LIST).query(true).reply(200, []);
    nock(API)
      .post(LIST, (b: { body: string }) => {
        sent = b.body;
        return true;
      })
      .reply(201, comment(1, "x"));
    await upsertStickyComment(octokit(), { ...target, body: `${MARKER}\n${"x".repeat(100_000)}` });
    expect(sent.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(sent.startsWith(MARKER)).toBe(true);
    expect(sent).toContain("truncated");
  });
});

describe("boundComment", () => {
  it("leaves short bodies alone and never splits a surrogate pair", () => {
    expect(boundComment("short")).toBe("short");
    const body = "😀".repeat(40_000);
    const out = boundComment(body);
    expect(out.length).toBeLessThanOrEqual(COMMENT_LIMIT);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
