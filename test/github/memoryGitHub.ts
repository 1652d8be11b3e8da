/**
 * GitHub's comments of one PR in memory, each call taking a few event-loop turns (chosen by
 * `delay`), so concurrent writers interleave as they would over the network. Ids grow with time.
 */
import type { CommentsClient } from "../../src/github/api/stickyComment.ts";

export function memoryGitHub(delay: () => number = () => 1) {
  let nextId = 100;
  const comments = new Map<number, { id: number; body: string; user: { login: string } }>();
  const calls: string[] = [];
  const tick = () => new Promise((r) => setTimeout(r, delay()));
  const client: CommentsClient = {
    rest: {
      issues: {
        async listComments() {
          calls.push("list");
          await tick();
          const data = [...comments.values()].sort((a, b) => a.id - b.id).map((c) => ({ ...c }));
          await tick();
          return { data, headers: {} };
        },
        async createComment({ body }) {
          calls.push("create");
          await tick();
          const c = { id: nextId++, body, user: { login: "stackpilot[bot]" } };
          comments.set(c.id, c);
          await tick();
          return { data: { ...c } };
        },
        async updateComment({ comment_id, body }) {
          calls.push("update");
          await tick();
          const c = comments.get(comment_id);
          if (!c) throw Object.assign(new Error("Not Found"), { status: 404 });
          c.body = body;
          return { data: { ...c } };
        },
        async deleteComment({ comment_id }) {
          calls.push("delete");
          await tick();
          if (!comments.delete(comment_id)) throw Object.assign(new Error("Not Found"), { status: 404 });
          return {};
        },
      },
    },
  };
  const human = (body: string) => comments.set(nextId, { id: nextId++, body, user: { login: "mallory" } });
  return { client, comments, calls, human };
}
