/**
 * What a deploy settles before it touches a host: the checks that refuse a stack there (mounts
 * outside the host's allowed roots, features its compose cannot run), and the release's manifest.
 */
import { posix } from "node:path";
import type { StackSnapshot } from "../detect/snapshot.ts";
import { mountRefusal, refusedMounts } from "../plan/mountPolicy.ts";
import { META_DIR } from "./commands/release.ts";
import { DeployRefused, type DeployRequest, type HostTarget } from "./hostDeploy.ts";
import { IMAGES_OVERRIDE, type ReleaseManifest } from "./release.ts";

export function manifestOf(req: DeployRequest): ReleaseManifest {
  const { stack } = req;
  return {
    version: 1,
    stack: stack.def.name,
    commit: req.commit,
    fingerprint: stack.fingerprint,
    path: stack.def.path,
    composeFiles: stack.def.composeFiles,
    envFiles: stack.def.envFiles,
    projectName: stack.def.projectName,
    services: stack.compose.services.map((s) => s.name),
    ...(req.images && Object.keys(req.images).length ? { overrideFiles: [IMAGES_OVERRIDE] } : {}),
    createdAt: new Date().toISOString(),
    createdBy: req.holder,
  };
}

/** A release-relative path of Stackpilot's own files -> its name in META_DIR. */
export function metaName(path: string): string {
  if (posix.dirname(path) !== META_DIR) throw new Error(`${path} is not in ${META_DIR}/ of a release`);
  return posix.basename(path);
}

/**
 * Absolute bind-mount sources must sit under the host's allowed roots, and none may depend on
 * variables the repository does not define. The plan skips such targets already; this is the
 * check nearest the host, whoever calls the deployer.
 */
export function checkMounts(stack: StackSnapshot, host: HostTarget): void {
  const refused = refusedMounts(stack.compose.absoluteMounts, host.allowedMountRoots);
  if (refused.length) {
    const list = refused
      .map((m) => `${m.file}:${m.line}:${m.col} ${mountRefusal(m, host.name, host.allowedMountRoots)}`)
      .join("; ");
    throw new DeployRefused(`${stack.def.name} cannot be deployed to ${host.name}: ${list}`);
  }
}

/** Refuse what the host's compose cannot run, before anything is uploaded. */
export function checkComposeFeatures(stack: StackSnapshot, host: HostTarget): void {
  const include = stack.compose.refs.find((r) => r.kind === "include");
  if (host.compose === "v1" && include) {
    throw new DeployRefused(
      `${stack.def.name} uses \`include\` (${include.from}:${include.line}), which docker-compose v1 on ${host.name} does not support; install docker compose v2.20+ there or target other hosts`,
    );
  }
}
