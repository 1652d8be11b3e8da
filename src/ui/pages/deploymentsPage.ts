/** `GET /ui/deployments`: the latest deployments the viewer can read, by repository, stack, host. */
import { canRead } from "../auth/principal.ts";
import type { Authed } from "../context.ts";
import { param, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import type { DeploymentsData } from "../views/deployments.ts";
import { deploymentPath, resultOf, short, when } from "./format.ts";
import { frameOf, readable } from "./visible.ts";

const LIMIT = 100;

export async function deploymentsPage(r: Authed): Promise<void> {
  const q = r.url.searchParams;
  const filters = { repo: param(q, "repo"), stack: param(q, "stack"), host: param(q, "host") };
  const rows: DeploymentsData["rows"] = [];
  if (!filters.repo || canRead(r.principal, filters.repo)) {
    // Without a repository filter, a GitHub user's unreadable rows are skipped: ask for more.
    const found = await r.deps.store.listDeployments({
      ...(filters.repo ? { repo: filters.repo } : {}),
      ...(filters.stack ? { stack: filters.stack } : {}),
      ...(filters.host ? { host: filters.host } : {}),
      limit: filters.repo ? LIMIT : 1000,
    });
    for (const d of readable(found, r.principal, LIMIT)) {
      const result = resultOf(d.status);
      rows.push({
        href: deploymentPath(d.id),
        id: d.id,
        repo: d.repo,
        stack: d.stack,
        host: d.host,
        commit: short(d.commit),
        status: result.word,
        tone: result.tone,
        actor: d.actor,
        trigger: d.trigger,
        created: when(d.createdAt),
      });
    }
  }
  const html = renderPage(
    "deployments",
    { filters: { repo: filters.repo ?? "", stack: filters.stack ?? "", host: filters.host ?? "" }, rows },
    { title: "Deployments", ...frameOf(r.principal) },
  );
  sendHtml(r.res, 200, html);
}
