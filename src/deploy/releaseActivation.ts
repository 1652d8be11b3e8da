/**
 * Bringing a release up on its host (hostDeploy.ts): pull and `up` (switching `current` in the
 * same round trip when hooks made the switch wait), the health wait and `post_deploy`; on failure
 * the previous release re-activated, or with none the broken one taken down. The re-activation of
 * a retained release is also `HostDeployer.rollback`'s.
 */
import type { ExpectedContainers } from "../state/deployed.ts";
import { composeDown, composePull, composeUp } from "./commands/compose.ts";
import type { StackPaths } from "./commands/paths.ts";
import { isDir, removeTree, switchAndRun, switchTo } from "./commands/release.ts";
import {
  type Attempt,
  DeployRefused,
  type DeployResult,
  type DeployStatus,
  type EngineOptions,
  errorText,
  type HostTarget,
  type Step,
  timedHook,
} from "./hostDeploy.ts";
import { projectOf, type ReleaseManifest } from "./release.ts";
import { readFailureLogs, readManifest, waitHealthy } from "./releaseReads.ts";
import type { Runner } from "./runner.ts";

/** What activation needs of the deployer: its runner and its health and `up` timeouts. */
export interface Activator {
  runner: Runner;
  opts: EngineOptions;
}

/**
 * Switch (when it waited for the hooks) and `up`, health, `post_deploy`: what then runs. On
 * failure the previous release is brought back (or, with none, the broken one taken down), and
 * the outcome says so.
 */
export async function activateRelease(
  by: Activator,
  at: Attempt,
  switchLater: boolean,
): Promise<
  { failed: Pick<DeployResult, "status" | "error" | "failureLogs"> } | { expected: ExpectedContainers }
> {
  const { req, releaseDir, manifest, step, time } = at;
  const { host } = req;
  try {
    await time("up", () =>
      upRelease(
        by,
        host,
        releaseDir,
        manifest,
        switchLater ? [] : req.pullServices,
        step,
        switchLater ? at : undefined,
      ),
    );
    const expected = await time("health", () =>
      waitHealthy(by.runner, host.name, manifest, by.opts, req.signal),
    );
    await timedHook(at, "post_deploy");
    return { expected };
  } catch (err) {
    req.signal?.throwIfAborted();
    const failureLogs = await readFailureLogs(by.runner, host, releaseDir, manifest);
    const status = await recoverFrom(by, at);
    return { failed: { status, error: `${errorText(err)}${await at.hooks.onFailure()}`, failureLogs } };
  }
}

/** After a failed activation: the previous release back up, or what failed taken down. */
async function recoverFrom(by: Activator, at: Attempt): Promise<DeployStatus> {
  const { req, paths, previous, release, releaseDir, manifest, step, time } = at;
  const { host } = req;
  if (previous && previous !== release) {
    await time("rollback", () => reactivateRelease(by, host, paths, previous, step));
    return "rolled_back";
  }
  if (!previous) {
    // Nothing ran before: stop the broken release rather than leave it half up.
    await step(composeDown(projectOf(manifest, releaseDir, host.compose)), { allowFailure: true });
    await step(removeTree(paths.current), { allowFailure: true });
  }
  // (A redeploy of what runs: its containers were running before; they are left as they are.)
  return "failed";
}

/** Re-activate a retained release without uploading or building: switch, `up`, wait for health. */
export async function reactivateRelease(
  by: Activator,
  host: HostTarget,
  paths: StackPaths,
  release: string,
  step: Step,
): Promise<{ manifest: ReleaseManifest; expected: ExpectedContainers }> {
  const exists = await by.runner.run(host.name, isDir(paths.release(release)), { allowFailure: true });
  if (exists.code !== 0)
    throw new DeployRefused(`release ${release.slice(0, 7)} of ${paths.stackDir} is gone from ${host.name}`);
  const manifest = await readManifest(by.runner, host.name, paths.release(release));
  await step(switchTo(paths, release));
  await upRelease(by, host, paths.release(release), manifest, [], step);
  return { manifest, expected: await waitHealthy(by.runner, host.name, manifest, by.opts) };
}

/** Pull, then `up`; with `switchFirst`, `current` is switched to that release in the same round trip. */
async function upRelease(
  by: Activator,
  host: HostTarget,
  releaseDir: string,
  manifest: ReleaseManifest,
  pull: readonly string[],
  step: Step,
  switchFirst?: { paths: StackPaths; release: string },
): Promise<void> {
  const project = projectOf(manifest, releaseDir, host.compose);
  if (pull.length) await step(composePull(project, pull));
  const up = composeUp(project, {
    waitSeconds: Math.ceil(by.opts.healthTimeoutMs / 1000),
    noBuild: Boolean(manifest.overrideFiles?.length),
  });
  await step(switchFirst ? switchAndRun(switchFirst.paths, switchFirst.release, up) : up);
}
