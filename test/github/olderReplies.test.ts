// Earlier command replies collapsed through GraphQL, against a simulated GitHub Enterprise: only
// this installation's marked replies, never the newest, never a user's comment or the sticky one.
import { Octokit } from "@octokit/rest";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type CommentNode,
  hideOlderReplies,
  MAX_HIDDEN,
  REPLY_MARKER,
  repliesToHide,
} from "../../src/github/api/olderReplies.ts";
import { recordedApi } from "../helpers/recordedApi.ts";

const GHE = "https://ghe.example.com";
const octokit = () => new Octokit({ auth: "x", baseUrl: `${GHE}/api/v3`, request: { retries: 0 } });
const { requests, api } = recordedApi(GHE);

const node = (id: string, over: Partial<CommentNode> = {}): CommentNode => ({
  id,
  isMinimized: false,
  viewerDidAuthor: true,
  body: `Deployed.\n\n${REPLY_MARKER}`,
  ...over,
});

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  requests.length = 0;
  expect(pending).toEqual([]);
});
afterAll(() => nock.enableNetConnect());

describe("repliesToHide", () => {
  it("picks our expanded marked replies but the one kept", () => {
    const nodes = [
      node("a"),
      node("b", { isMinimized: true }),
      node("c", { viewerDidAuthor: false }),
      node("d", { body: "<!-- stackpilot:plan --> the sticky comment" }),
      node("e", { body: `a user quoting ${REPLY_MARKER}`, viewerDidAuthor: false }),
      node("f"),
      node("new"),
    ];
    expect(repliesToHide(nodes, "new")).toEqual(["a", "f"]);
  });

  it("collapses at most MAX_HIDDEN per reply, the newest of them", () => {
    const nodes = Array.from({ length: MAX_HIDDEN + 5 }, (_, i) => node(`n${i}`));
    const ids = repliesToHide(nodes, undefined);
    expect(ids).toHaveLength(MAX_HIDDEN);
    expect(ids.at(-1)).toBe(`n${MAX_HIDDEN + 4}`);
  });
});

describe("hideOlderReplies", () => {
  it("asks Enterprise's /api/graphql for the PR's last comments and minimizes the earlier replies as OUTDATED", async () => {
    api()
      .post("/api/graphql")
      .reply(200, {
        data: {
          repository: {
            issueOrPullRequest: { comments: { nodes: [node("IC_old"), null, node("IC_new")] } },
          },
        },
      })
      .post("/api/graphql")
      .reply(200, { data: { minimizeComment: { minimizedComment: { isMinimized: true } } } });
    const hidden = await hideOlderReplies(octokit(), { owner: "acme", repo: "infra", number: 7 }, "IC_new");
    expect(hidden).toBe(1);
    const [lookup, mutation] = requests.map((r) => r.body ?? {});
    expect(lookup?.variables).toEqual({ owner: "acme", repo: "infra", number: 7, last: 50 });
    expect(String(mutation?.query)).toContain("classifier: OUTDATED");
    expect(mutation?.variables).toEqual({ id: "IC_old" });
  });

  it("an issue or PR GitHub does not find collapses nothing", async () => {
    api()
      .post("/api/graphql")
      .reply(200, { data: { repository: { issueOrPullRequest: null } } });
    expect(await hideOlderReplies(octokit(), { owner: "acme", repo: "infra", number: 7 }, undefined)).toBe(0);
    expect(requests).toHaveLength(1);
  });
});
