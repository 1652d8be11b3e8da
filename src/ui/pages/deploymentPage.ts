/**
 * `GET /ui/deployments/:id`: one deployment, its hooks' attempts, every command, streamed while it
 * runs (live.ts).
 */
import type { HookRunRecord } from "../../state/hookRuns.ts";
import { canRead } from "../auth/principal.ts";
import type { Authed } from "../context.ts";
import { HttpError, sendHtml } from "../http.ts";
import { renderPage } from "../render.ts";
import type { DeploymentData } from "../views/deployment.ts";
import { commitUrl, deploymentPath, resultOf, when } from "./format.ts";
import { duration } from "./runModel.ts";
import { frameOf } from "./visible.ts";

/** Without JavaScript, a running deployment's page reloads itself this often. */
const REFRESH_S = 5;

export async function deploymentPage(r: Authed, id: number): Promise<void> {
  const d = await r.deps.store.getDeployment(id);
  // One answer for "none" and "not yours": ids say nothing about other repositories.
  if (!d || !canRead(r.principal, d.repo)) throw new HttpError(404, `no deployment ${id}`);
  const running = d.status === "queued" || d.status === "running";
  const result = resultOf(d.status);
  const hooks = (await r.deps.store.listHookRuns(d.id)).map((h) => hookRow(h, running));
  const html = renderPage(
    "deployment",
    {
      id: d.id,
      repo: d.repo,
      stack: d.stack,
      host: d.host,
      environment: d.environment,
      commit: {
        sha: d.commit,
        url: commitUrl(r.deps.settings.github.origin, d.repo, d.commit),
        subject: d.commitSubject,
      },
      status: result.word,
      tone: result.tone,
      actor: d.actor,
      trigger: d.trigger,
      created: when(d.createdAt),
      started: when(d.startedAt),
      finished: when(d.finishedAt),
      release: d.release,
      rolloutId: d.rolloutId,
      error: d.error,
      reasons: d.reasons,
      hooks,
      logs: d.logs,
      liveAfter: running ? (d.logs.at(-1)?.seq ?? 0) : undefined,
      eventsUrl: `${deploymentPath(d.id)}/events`,
    },
    {
      title: `Deployment ${d.id}`,
      ...frameOf(r.principal),
      ...(running ? { live: true, refreshS: REFRESH_S } : {}),
    },
  );
  sendHtml(r.res, 200, html);
}

/**
 * A hook attempt as the page shows it. One still `running` when its deployment has ended was cut
 * off with its deployer: `interrupted` (as `stackpilot status` counts it).
 */
export function hookRow(h: HookRunRecord, deploymentRunning: boolean): DeploymentData["hooks"][number] {
  const [result, tone] =
    h.status === "running"
      ? deploymentRunning
        ? ["running", "run"]
        : ["interrupted", "bad"]
      : h.status === "succeeded"
        ? ["succeeded", "ok"]
        : h.status === "timed_out"
          ? ["timed out", "bad"]
          : [`failed${h.exitCode === null ? "" : ` (exit ${h.exitCode})`}`, "bad"];
  return {
    hook: h.hook,
    attempt: h.attempt,
    required: h.required,
    result,
    tone,
    duration: duration(h.durationMs ?? undefined),
    output: h.output,
  };
}
