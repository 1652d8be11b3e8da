/**
 * `GET /ui/locks`: the deploy locks of targets the viewer can read (holder, since, why: the
 * deployment running there), with Unlock; `POST /ui/locks/unlock` frees one, if mayUnlock.ts
 * allows it. Other database locks are shown to token holders only (their keys name no
 * repository a GitHub user's access could be checked against, or not reliably).
 */

import { deployLockKey } from "../../state/deployments.ts";
import { checkCsrf } from "../auth/csrf.ts";
import { mayUnlock } from "../auth/mayUnlock.ts";
import { canRead } from "../auth/principal.ts";
import type { Authed } from "../context.ts";
import { HttpError, param, readForm, redirect, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import type { LocksData } from "../views/locks.ts";
import { deploymentPath, short, when } from "./format.ts";
import { frameOf } from "./visible.ts";

const DEPLOY = "deploy:";

/** `deploy:<repo>:<stack>:<host>` (deployments.ts deployLockKey); stack and host hold no `:`. */
export function parseDeployKey(key: string): { repo: string; stack: string; host: string } | undefined {
  if (!key.startsWith(DEPLOY)) return undefined;
  const parts = key.slice(DEPLOY.length).split(":");
  if (parts.length < 3) return undefined;
  const host = parts.pop() as string;
  const stack = parts.pop() as string;
  return { repo: parts.join(":"), stack, host };
}

export async function locksPage(r: Authed): Promise<void> {
  const [locks, active] = await Promise.all([r.deps.store.listLocks(), r.deps.store.activeDeployments()]);
  const running = new Map(active.map((d) => [deployLockKey(d), d]));
  const deploy: LocksData["deploy"] = [];
  const other: NonNullable<LocksData["other"]> = [];
  for (const l of locks) {
    const target = parseDeployKey(l.key);
    if (!target) {
      other.push({ key: l.key, holder: l.holder, since: when(l.acquiredAt), expires: when(l.expiresAt) });
      continue;
    }
    if (!canRead(r.principal, target.repo)) continue;
    const d = running.get(l.key);
    deploy.push({
      ...target,
      holder: l.holder,
      since: when(l.acquiredAt),
      expires: when(l.expiresAt),
      expired: l.expired,
      why: d
        ? {
            text: `deployment ${d.id}: ${short(d.commit)} ${d.status} (${d.trigger} by ${d.actor})`,
            href: deploymentPath(d.id),
          }
        : undefined,
    });
  }
  const done = param(r.url.searchParams, "unlocked");
  const html = renderPage(
    "locks",
    {
      csrf: r.principal.session?.csrf,
      done: done ? `Unlocked ${done}.` : undefined,
      deploy,
      other: r.principal.kind === "token" ? other : undefined,
    },
    { title: "Locks", ...frameOf(r.principal) },
  );
  sendHtml(r.res, 200, html);
}

export async function unlock(r: Authed): Promise<void> {
  const form = await readForm(r.req);
  checkCsrf(r.req, form, r.principal);
  const [repo, stack, host] = [param(form, "repo"), param(form, "stack"), param(form, "host")];
  if (!repo || !stack || !host) throw new HttpError(400, "repo, stack and host are required");
  if (!canRead(r.principal, repo)) throw new HttpError(404, `no repository ${repo}`);
  const verdict = await mayUnlock(r.deps, r.principal, { repo, stack }).catch((err: unknown) => {
    throw new HttpError(502, `could not check your permission with GitHub: ${(err as Error).message}`);
  });
  if (!verdict.ok) {
    const html = renderPage(
      "message",
      {
        heading: "Unlock refused",
        text: `Unlock of ${stack} on ${host} refused: ${verdict.reason}`,
        back: "/ui/locks",
      },
      { title: "Unlock refused", ...frameOf(r.principal) },
    );
    return sendHtml(r.res, 403, html);
  }
  const freed = await r.deps.store.unlockTarget({ repo, stack, host }, `${r.principal.login} in the web UI`);
  r.deps.log.info(
    `ui: ${r.principal.login} unlocked ${repo} ${stack} on ${host} (${freed ? "freed" : "was not locked"})`,
  );
  const what = `${stack} on ${host}${freed ? "" : " (it was not locked)"}`;
  redirect(r.res, `/ui/locks?unlocked=${encodeURIComponent(what)}`);
}
