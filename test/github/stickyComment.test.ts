import { Octokit } from "@octokit/rest";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  boundComment,
  COMMENT_LIMIT,
  parseSections,
  renderSections,
  upsertStickyComment,
  writeSticky,
} from "../../src/github/api/stickyComment.ts";
import { memoryGitHub } from "./memoryGitHub.ts";

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
    nock(API)
      .get(LIST)
      .query(true)
      .reply(200, [...page, comment(10, MARKER, "stackpilot[bot]")]);
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

  it("truncates a body over 65,535 characters, keeping the marker", async () => {
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

const bot = { ...target, botLogin: "stackpilot[bot]" };
/** A writer that adds its own line to whatever the comment holds. */
const adding = (line: string) => (current: string | undefined) => `${(current ?? MARKER).trimEnd()}\n${line}`;

describe("one sticky comment when writers race", () => {
  it("two writers of one PR in this process run one after the other: one create, then an update", async () => {
    const gh = memoryGitHub();
    const [a, b] = await Promise.all([
      writeSticky(gh.client, bot, adding("plan")),
      writeSticky(gh.client, bot, adding("deploy")),
    ]);
    expect(gh.calls.filter((c) => c === "create")).toHaveLength(1);
    expect([a.action, b.action]).toEqual(["created", "updated"]);
    expect([...gh.comments.values()].map((c) => c.body)).toEqual([`${MARKER}\nplan\ndeploy`]);
  });

  it("two processes (the module loaded twice) both create: the newer comment goes, both writes land in the older", async () => {
    vi.resetModules();
    const other = (await import(
      "../../src/github/api/stickyComment.ts"
    )) as typeof import("../../src/github/api/stickyComment.ts");
    expect(other.writeSticky).not.toBe(writeSticky);
    // Several interleavings: whichever writer creates first, one comment remains holding both lines.
    let raced = 0;
    for (let seed = 1; seed <= 25; seed++) {
      let x = seed;
      const gh = memoryGitHub(() => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % 4;
      });
      gh.human(`quoting ${MARKER} in a review`);
      const results = await Promise.all([
        writeSticky(gh.client, bot, adding("plan")),
        other.writeSticky(gh.client, bot, adding("deploy")),
      ]);
      const mine = [...gh.comments.values()].filter((c) => c.user.login === "stackpilot[bot]");
      expect(mine, `seed ${seed}`).toHaveLength(1);
      const body = mine[0]?.body ?? "";
      expect(body, `seed ${seed}`).toContain("plan");
      expect(body, `seed ${seed}`).toContain("deploy");
      // The person's comment is never touched.
      expect([...gh.comments.values()].some((c) => c.user.login === "mallory")).toBe(true);
      if (gh.calls.filter((c) => c === "create").length === 2) {
        raced++;
        expect(
          results.flatMap((r) => r.deleted),
          `seed ${seed}`,
        ).toHaveLength(1);
      }
    }
    expect(raced).toBeGreaterThan(5);
  });

  it("a duplicate left behind (a writer died after its create) is deleted by the next write", async () => {
    const gh = memoryGitHub();
    gh.comments.set(10, { id: 10, body: `${MARKER}\nold`, user: { login: "stackpilot[bot]" } });
    gh.comments.set(12, { id: 12, body: `${MARKER}\nstray`, user: { login: "stackpilot[bot]" } });
    gh.comments.set(13, { id: 13, body: `${MARKER}\nother app`, user: { login: "other-app[bot]" } });
    const res = await writeSticky(gh.client, bot, () => `${MARKER}\nnew`);
    expect(res).toMatchObject({ action: "updated", deleted: [12], comment: { id: 10 } });
    expect([...gh.comments.keys()].sort()).toEqual([10, 13]);
    expect(gh.comments.get(10)?.body).toBe(`${MARKER}\nnew`);
  });

  it("a comment deleted between finding and editing it is written anew", async () => {
    const gh = memoryGitHub();
    gh.comments.set(10, { id: 10, body: `${MARKER}\nold`, user: { login: "stackpilot[bot]" } });
    const res = await writeSticky(gh.client, bot, (current) => {
      gh.comments.delete(10); // someone deletes it while the body is being composed
      return `${current}\nnew`;
    });
    expect(res.action).toBe("created");
    expect([...gh.comments.values()].map((c) => c.body)).toEqual([`${MARKER}\nold\nnew`]);
  });

  it("without the app's bot login nothing is ever deleted", async () => {
    const gh = memoryGitHub();
    gh.comments.set(10, { id: 10, body: MARKER, user: { login: "a[bot]" } });
    gh.comments.set(11, { id: 11, body: MARKER, user: { login: "b[bot]" } });
    await writeSticky(gh.client, target, () => `${MARKER}\nnew`);
    expect([...gh.comments.keys()]).toEqual([10, 11]);
    expect(gh.calls).not.toContain("delete");
  });
});

describe("sections", () => {
  it("parse what render wrote; a body from before sections is one legacy section", () => {
    const body = renderSections(MARKER, [
      { name: "plan", attrs: { sha: "abc123" }, text: "### Plan\n\nrows" },
      { name: "deploy", attrs: {}, text: "### Last deploy\n<!-- stackpilot:section evil --> in an error" },
    ]);
    expect(parseSections(body, MARKER)).toEqual([
      { name: "plan", attrs: { sha: "abc123" }, text: "### Plan\n\nrows" },
      { name: "deploy", attrs: {}, text: "### Last deploy\n&lt;!-- stackpilot:section evil --> in an error" },
    ]);
    expect(parseSections(`${MARKER}\n### Stackpilot plan\n`, MARKER)).toEqual([
      { name: "legacy", attrs: {}, text: "### Stackpilot plan" },
    ]);
    expect(parseSections(MARKER, MARKER)).toEqual([]);
  });
});
