/**
 * Older command replies collapsed: when Stackpilot answers a command on a PR, its earlier answers
 * there are minimized as OUTDATED (GraphQL `minimizeComment`; REST cannot), so the thread shows
 * the newest answer and a click shows the rest. Only comments this installation wrote
 * (`viewerDidAuthor`) that carry the reply marker are touched: never a user's comment, never the
 * sticky plan comment. Bounded: the PR's last LOOK_BACK comments, at most MAX_HIDDEN mutations.
 *
 * The GraphQL endpoint follows the client's base URL (`/api/graphql` on GitHub Enterprise).
 */

/** Appended to every command reply (invisible in the rendered comment). */
export const REPLY_MARKER = "<!-- stackpilot:reply -->";
/** Comments read, newest last: earlier replies were collapsed by the replies after them. */
export const LOOK_BACK = 50;
/** Mutations per reply at most (a PR whose replies were never collapsed catches up over time). */
export const MAX_HIDDEN = 10;

export interface CommentNode {
  id: string;
  isMinimized: boolean;
  viewerDidAuthor: boolean;
  body: string;
}

export interface GraphqlClient {
  graphql<T>(query: string, variables: Record<string, unknown>): Promise<T>;
}

const COMMENTS = `query ($owner: String!, $repo: String!, $number: Int!, $last: Int!) {
  repository(owner: $owner, name: $repo) {
    issueOrPullRequest(number: $number) {
      ... on PullRequest { comments(last: $last) { nodes { id isMinimized viewerDidAuthor body } } }
      ... on Issue { comments(last: $last) { nodes { id isMinimized viewerDidAuthor body } } }
    }
  }
}`;

const MINIMIZE = `mutation ($id: ID!) {
  minimizeComment(input: { subjectId: $id, classifier: OUTDATED }) { minimizedComment { isMinimized } }
}`;

/** The replies to collapse: ours, marked, still expanded, all but the newest (`keep`). */
export function repliesToHide(nodes: readonly CommentNode[], keep: string | undefined): string[] {
  return nodes
    .filter((n) => n.viewerDidAuthor && !n.isMinimized && n.id !== keep && n.body.includes(REPLY_MARKER))
    .map((n) => n.id)
    .slice(-MAX_HIDDEN);
}

/** Collapse this installation's earlier replies on a PR; returns how many were collapsed. */
export async function hideOlderReplies(
  client: GraphqlClient,
  at: { owner: string; repo: string; number: number },
  keep: string | undefined,
): Promise<number> {
  const found = await client.graphql<{
    repository?: { issueOrPullRequest?: { comments?: { nodes?: (CommentNode | null)[] } } | null } | null;
  }>(COMMENTS, { ...at, last: LOOK_BACK });
  const nodes = (found.repository?.issueOrPullRequest?.comments?.nodes ?? []).filter(
    (n): n is CommentNode => n !== null,
  );
  const ids = repliesToHide(nodes, keep);
  for (const id of ids) await client.graphql(MINIMIZE, { id });
  return ids.length;
}
