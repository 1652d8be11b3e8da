/**
 * `GET /ui/runs`: the latest procedure runs the viewer can read; `GET /ui/runs/:id`: one run,
 * every stage and step (runModel.ts). A run of a repository the viewer cannot read is a 404, as
 * one that does not exist.
 */
import { runName, runView } from "../../procedures/view.ts";
import { canRead } from "../auth/principal.ts";
import type { Authed } from "../context.ts";
import { HttpError, param, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import type { RunsData } from "../views/runs.ts";
import { commitUrl, short, when } from "./format.ts";
import { duration, runRows, runStateOf, whenIso } from "./runModel.ts";
import { frameOf, readable } from "./visible.ts";

const LIMIT = 100;
/** A running run's page reloads itself this often (no live script follows runs). */
const REFRESH_S = 10;

export async function runsPage(r: Authed): Promise<void> {
  const repo = param(r.url.searchParams, "repo");
  const rows: RunsData["rows"] = [];
  if (!repo || canRead(r.principal, repo)) {
    // Without a repository filter, a GitHub user's unreadable runs are skipped: ask for more.
    const found = await r.deps.store.procedures.listRuns({
      ...(repo ? { repo } : {}),
      limit: repo ? LIMIT : 1000,
    });
    for (const run of readable(found, r.principal, LIMIT)) {
      const state = runStateOf(run.status);
      rows.push({
        href: runPath(run.id),
        id: run.id,
        repo: run.repo,
        procedure: runName(run),
        trigger: triggerOf(run.source, run.triggerName, run.actor),
        status: state.word,
        tone: state.tone,
        started: when(run.startedAt ?? run.createdAt),
        duration: run.startedAt && run.finishedAt ? duration(+run.finishedAt - +run.startedAt) : "",
      });
    }
  }
  const html = renderPage(
    "runs",
    { filters: { repo: repo ?? "" }, rows },
    { title: "Runs", ...frameOf(r.principal) },
  );
  sendHtml(r.res, 200, html);
}

export async function runPage(r: Authed, id: number): Promise<void> {
  const run = await r.deps.store.procedures.getRun(id);
  if (!run || !canRead(r.principal, run.repo)) throw new HttpError(404, `no run ${id}`);
  const view = runView(run, await r.deps.store.procedures.listSteps(id));
  const state = runStateOf(view.status);
  const running = view.status === "queued" || view.status === "running";
  const html = renderPage(
    "run",
    {
      id: view.id,
      procedure: view.procedure,
      repo: view.repo,
      branch: view.branch,
      head: view.head
        ? { short: short(view.head), url: commitUrl(r.deps.settings.github.origin, view.repo, view.head) }
        : undefined,
      trigger: triggerOf(view.source, view.trigger, view.actor),
      status: state.word,
      tone: state.tone,
      reason: view.reason ?? "",
      error: view.error ?? "",
      created: whenIso(view.createdAt),
      started: whenIso(view.startedAt),
      finished: whenIso(view.finishedAt),
      duration: duration(view.durationMs),
      rows: runRows(view),
    },
    { title: `Run ${view.id}`, ...frameOf(r.principal), ...(running ? { refreshS: REFRESH_S } : {}) },
  );
  sendHtml(r.res, 200, html);
}

export function runPath(id: number): string {
  return `/ui/runs/${id}`;
}

/** `trigger nightly (by octocat)`, `push (by alice)`. */
function triggerOf(source: string, trigger: string | null, actor: string): string {
  return `${source}${trigger ? ` ${trigger}` : ""} (by ${actor})`;
}
