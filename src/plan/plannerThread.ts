/**
 * The planner's worker thread (planner.ts): plans requests one at a time with caches kept between
 * them, and says which stack it is working on, so a plan over its budget is named by its stack.
 * Nothing here touches a host or the database.
 */
import { parentPort } from "node:worker_threads";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import { type PlanRequest, runPlanRequest } from "./planRequest.ts";

export type ThreadMessage =
  | { type: "progress"; id: number; stack: string }
  | { type: "done"; id: number; response: Awaited<ReturnType<typeof runPlanRequest>> }
  | { type: "failed"; id: number; message: string; name: string };

const port = parentPort;
if (!port) throw new Error("plannerThread.ts runs as a worker thread");
const cache = new ParseCache();
const repos = new Map<string, GitRepo>();

port.on("message", async ({ id, request }: { id: number; request: PlanRequest }) => {
  cache.progress = (stack) => port.postMessage({ type: "progress", id, stack } satisfies ThreadMessage);
  try {
    const repo = repos.get(request.repoDir) ?? new GitRepo(request.repoDir);
    repos.set(request.repoDir, repo);
    const response = await runPlanRequest(repo, request, cache);
    port.postMessage({ type: "done", id, response } satisfies ThreadMessage);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ type: "failed", id, message: e.message, name: e.name } satisfies ThreadMessage);
  } finally {
    cache.progress = undefined;
  }
});
