/**
 * `GET /ui/c/:deploymentId`: a 303 to the commit on GitHub (GHE-aware) that this deployment put on
 * its target. The matrix links each deployed commit here rather than to GitHub directly: the
 * local path is a tenth of the URL's bytes, which over 10,000 cells is most of the page.
 */
import { canRead } from "../auth/principal.ts";
import type { Authed } from "../context.ts";
import { HttpError, redirect } from "../http.ts";
import { commitUrl } from "./format.ts";

export async function commitPage(r: Authed, deploymentId: number): Promise<void> {
  const placed = await r.deps.store.commitOfDeployed(deploymentId);
  // One answer for "none" and "not yours": ids say nothing about other repositories.
  if (!placed || !canRead(r.principal, placed.repo))
    throw new HttpError(
      404,
      `deployment ${deploymentId} is not what runs on its target (anymore); reload the matrix`,
    );
  const url = commitUrl(r.deps.settings.github.origin, placed.repo, placed.commit);
  if (!url) throw new HttpError(404, `${placed.repo} has no commit page on GitHub`);
  redirect(r.res, url);
}
