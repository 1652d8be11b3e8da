/**
 * Reactions on the comment that carried a command: 👀 when it is picked up, 🚀 when it ran,
 * 😕 when it was refused or failed. Cosmetic, so best-effort: a failure is reported, not thrown.
 *
 * The Octokit client is passed in; its `baseUrl` decides which GitHub is talked to.
 */

/** Every reaction GitHub accepts; Stackpilot uses `eyes`, `rocket` and `confused`. */
export type ReactionContent = "+1" | "-1" | "laugh" | "confused" | "heart" | "hooray" | "rocket" | "eyes";

export interface ReactionsClient {
  rest: {
    reactions: {
      createForIssueComment(params: {
        owner: string;
        repo: string;
        comment_id: number;
        content: ReactionContent;
      }): Promise<{ data: { id: number } }>;
    };
  };
}

export interface ReactInput {
  owner: string;
  repo: string;
  comment_id: number;
  content: ReactionContent;
}

export type ReactResult = { ok: true; id: number } | { ok: false; error: unknown };

/** Add a reaction to an issue or PR comment. Adding one that exists already succeeds (HTTP 200). */
export async function react(octokit: ReactionsClient, input: ReactInput): Promise<ReactResult> {
  try {
    const { data } = await octokit.rest.reactions.createForIssueComment({
      owner: input.owner,
      repo: input.repo,
      comment_id: input.comment_id,
      content: input.content,
    });
    return { ok: true, id: data.id };
  } catch (error) {
    return { ok: false, error };
  }
}
