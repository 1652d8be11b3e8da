/** `GET /ui`: the stacks x hosts matrix of every repository the viewer can read (see matrixModel.ts). */
import { deployLockKey } from "../../state/deployments.ts";
import type { LockInfo } from "../../state/locks.ts";
import type { Authed } from "../context.ts";
import { globParam, param, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import { matrixModel, type RepoFacts, targetKey } from "./matrixModel.ts";
import { frameOf, visibleRepos } from "./visible.ts";

export async function matrixPage(r: Authed): Promise<void> {
  const q = r.url.searchParams;
  const filters = { stack: globParam(q, "stack"), host: globParam(q, "host"), repo: param(q, "repo") };
  const choices = await visibleRepos(r.deps, r.principal);
  const repos = filters.repo ? choices.filter((c) => c === filters.repo) : choices;
  const locks = new Map((await r.deps.store.listLocks()).map((l) => [l.key, l]));
  const facts: RepoFacts[] = [];
  for (const repo of repos) {
    const targets = await r.deps.store.targetsOverview(repo);
    const held = new Map<string, LockInfo>();
    for (const t of targets) {
      const lock = locks.get(deployLockKey({ repo, stack: t.stack, host: t.host }));
      if (lock) held.set(targetKey(t.stack, t.host), lock);
    }
    facts.push({ repo, targets, locks: held });
  }
  const view = matrixModel(facts, {
    stack: filters.stack,
    host: filters.host,
    origin: r.deps.settings.github.origin,
    now: Date.now(),
  });
  const html = renderPage(
    "matrix",
    {
      ...view,
      filters: { stack: filters.stack ?? "", host: filters.host ?? "", repo: filters.repo ?? "" },
      repoChoices: choices,
    },
    { title: "Stacks", ...frameOf(r.principal) },
  );
  sendHtml(r.res, 200, html);
}
