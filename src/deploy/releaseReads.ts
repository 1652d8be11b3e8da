/** What the deployer reads from a release on a host: its manifest, its fingerprint, its health, its logs. */

import type { ExpectedContainers } from "../state/deployed.ts";
import { composeLogs } from "./commands/compose.ts";
import { parseInspect, projectContainerStates } from "./commands/docker.ts";
import { manifestPath, readFile } from "./commands/release.ts";
import { expectedOf, judgeHealth } from "./health.ts";
import { DeployRefused, type EngineOptions, type HostTarget } from "./hostDeploy.ts";
import { projectOf, ReleaseManifest } from "./release.ts";
import type { Runner } from "./runner.ts";

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

export async function readManifest(
  runner: Runner,
  host: string,
  releaseDir: string,
): Promise<ReleaseManifest> {
  const rec = await runner.run(host, readFile(manifestPath(releaseDir)));
  try {
    return ReleaseManifest.parse(JSON.parse(rec.stdout));
  } catch (err) {
    throw new DeployRefused(
      `release manifest ${manifestPath(releaseDir)} on ${host} is unreadable: ${message(err)}`,
    );
  }
}

/** The fingerprint a release on the host was made from; undefined when it cannot be read. */
export async function releaseFingerprint(
  runner: Runner,
  host: string,
  releaseDir: string,
): Promise<string | undefined> {
  try {
    return (await readManifest(runner, host, releaseDir)).fingerprint;
  } catch {
    return undefined;
  }
}

/** `compose logs` of a failed release, kept with its deployment. */
export async function readFailureLogs(
  runner: Runner,
  host: HostTarget,
  releaseDir: string,
  manifest: ReleaseManifest,
): Promise<string> {
  try {
    const rec = await runner.run(host.name, composeLogs(projectOf(manifest, releaseDir, host.compose)), {
      allowFailure: true,
    });
    return `${rec.stdout}${rec.stderr}`;
  } catch (err) {
    return `(could not read logs: ${message(err)})`;
  }
}

/**
 * Polls until every service of the release is healthy and returns what then runs (health.ts
 * `expectedOf`, for drift detection); throws when one degrades, time is up or the signal aborts.
 */
export async function waitHealthy(
  runner: Runner,
  host: string,
  manifest: ReleaseManifest,
  opts: Pick<EngineOptions, "healthTimeoutMs" | "healthPollMs">,
  signal?: AbortSignal,
): Promise<ExpectedContainers> {
  const deadline = Date.now() + opts.healthTimeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    // One round trip per poll: `docker ps` and `docker inspect` in one script.
    const states = parseInspect(
      (await runner.run(host, projectContainerStates(manifest.projectName))).stdout,
    );
    const verdict = judgeHealth(states, manifest.services);
    if (verdict.state === "healthy") return expectedOf(manifest.projectName, manifest.services, states);
    if (verdict.state === "degraded") throw new Error(`unhealthy: ${verdict.reason}`);
    if (Date.now() >= deadline) {
      throw new Error(
        `not healthy after ${Math.round(opts.healthTimeoutMs / 1000)} s: waiting for ${verdict.waitingFor.join(", ")}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.healthPollMs));
  }
}
