/**
 * One comment per PR, edited in place: found by a hidden marker (`<!-- stackpilot:plan -->`),
 * created only when there is none. Posting a new comment per push is noisy and hits GitHub's
 * secondary rate limits.
 *
 * The Octokit client is passed in (a Probot `context.octokit` or an `@octokit/rest` Octokit);
 * its `baseUrl` decides which GitHub (github.com or Enterprise) is talked to.
 */

/** GitHub rejects comment bodies longer than this. */
export const COMMENT_LIMIT = 65_536;
/** Pages of 100 comments read at most while looking for the marker (10,000 comments). */
export const MAX_PAGES = 100;
const PER_PAGE = 100;

export interface IssueComment {
  id: number;
  body?: string | null;
  user?: { login: string; type?: string } | null;
  html_url?: string;
}

/** The part of Octokit this module uses. */
export interface CommentsClient {
  rest: {
    issues: {
      listComments(params: {
        owner: string;
        repo: string;
        issue_number: number;
        per_page?: number;
        page?: number;
      }): Promise<{ data: IssueComment[]; headers: { link?: string | undefined } }>;
      createComment(params: {
        owner: string;
        repo: string;
        issue_number: number;
        body: string;
      }): Promise<{ data: IssueComment }>;
      updateComment(params: {
        owner: string;
        repo: string;
        comment_id: number;
        body: string;
      }): Promise<{ data: IssueComment }>;
    };
  };
}

export interface StickyCommentInput {
  owner: string;
  repo: string;
  issue_number: number;
  body: string;
  /** Hidden marker, e.g. `<!-- stackpilot:plan -->`; added at the top of the body when missing. */
  marker: string;
  /**
   * The app's bot login (`my-app[bot]`). When given, only its comments are candidates, so a
   * person who pastes the marker into their own comment never has it overwritten. Without it,
   * comments by any `[bot]` login are preferred over others.
   */
  botLogin?: string;
}

export interface StickyCommentResult {
  action: "created" | "updated";
  comment: IssueComment;
}

/** Update the marked comment, or create it. */
export async function upsertStickyComment(
  octokit: CommentsClient,
  input: StickyCommentInput,
): Promise<StickyCommentResult> {
  const { owner, repo, issue_number, marker } = input;
  let body = boundComment(input.body);
  // The marker must survive truncation, or the next run would post a second comment.
  if (!body.includes(marker)) body = boundComment(`${marker}\n${input.body}`);
  const existing = await findMarkedComment(octokit, input);
  if (existing) {
    const { data } = await octokit.rest.issues.updateComment({ owner, repo, comment_id: existing.id, body });
    return { action: "updated", comment: data };
  }
  const { data } = await octokit.rest.issues.createComment({ owner, repo, issue_number, body });
  return { action: "created", comment: data };
}

/**
 * The comment holding the marker: with `botLogin`, the first one by that login; else the first
 * by a `[bot]` login, else the first by anyone. Stops paging as soon as the answer is certain.
 */
export async function findMarkedComment(
  octokit: CommentsClient,
  input: Pick<StickyCommentInput, "owner" | "repo" | "issue_number" | "marker" | "botLogin">,
): Promise<IssueComment | undefined> {
  const { owner, repo, issue_number, marker } = input;
  const wanted = input.botLogin?.toLowerCase();
  let fallback: IssueComment | undefined;
  for (let page = 1; page <= MAX_PAGES; page++) {
    const res = await octokit.rest.issues.listComments({
      owner,
      repo,
      issue_number,
      per_page: PER_PAGE,
      page,
    });
    for (const c of res.data) {
      if (!c.body?.includes(marker)) continue;
      const login = c.user?.login.toLowerCase() ?? "";
      if (wanted !== undefined) {
        if (login === wanted) return c;
      } else if (login.endsWith("[bot]")) return c;
      else fallback ??= c;
    }
    if (res.data.length < PER_PAGE || !/\brel="next"/.test(res.headers.link ?? "")) break;
  }
  return fallback;
}

const TRUNCATED = "\n\n_…truncated: the comment exceeded GitHub's 65,536-character limit._\n";

/** At most COMMENT_LIMIT UTF-16 units (GitHub counts characters; this never exceeds it). */
export function boundComment(body: string, limit = COMMENT_LIMIT): string {
  if (body.length <= limit) return body;
  let end = limit - TRUNCATED.length;
  const code = body.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return body.slice(0, end) + TRUNCATED;
}
