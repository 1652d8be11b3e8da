/**
 * Which host paths a stack may bind-mount on a host: absolute paths under the host's
 * `allowed_mount_roots` only, and never one that depends on variables the repository does not
 * define (the deploy host's environment would choose it). Pure; the plan skips a target that
 * breaks it, and deploy checks again before it touches the host (hostDeploy.ts).
 */
import { posix } from "node:path";
import type { Problem } from "../config/problems.ts";
import type { AbsoluteMount } from "../detect/compose.ts";
import type { HostRef, TargetPlan } from "./plan.ts";

/** Whether `allowedRoots` admit the mount: its normalised absolute path is a root or below one. */
export function mountAllowed(mount: AbsoluteMount, allowedRoots: readonly string[]): boolean {
  if (mount.unresolved || !mount.source.startsWith("/")) return false; // `~` and Windows paths too
  // Normalised first: `/srv/data/../../etc` is `/etc`.
  const path = posix.normalize(mount.source);
  return allowedRoots.some((root) => {
    const dir = posix.normalize(root).replace(/\/+$/, "");
    return dir === "" || path === dir || path.startsWith(`${dir}/`);
  });
}

/** The mounts `allowedRoots` refuse. */
export function refusedMounts(
  mounts: readonly AbsoluteMount[],
  allowedRoots: readonly string[],
): AbsoluteMount[] {
  return mounts.filter((m) => !mountAllowed(m, allowedRoots));
}

/** Why `host` refuses one mount, e.g. "service web mounts /etc, outside the allowed mount roots of app-1 (/srv)". */
export function mountRefusal(mount: AbsoluteMount, host: string, allowedRoots: readonly string[]): string {
  const envFile = mount.via === "env_file";
  const who = mount.service
    ? `service ${mount.service}`
    : envFile
      ? "an include"
      : "a top-level volume, config or secret";
  const does = envFile ? `reads ${mount.source} as an env_file` : `mounts ${mount.source}`;
  if (mount.unresolved) {
    const vars = [...new Set(mount.unresolved)].join(", ");
    return `${who} ${does}: ${vars} cannot be resolved from the repository (the stack's .env or env files), so no host, ${host} included, accepts it`;
  }
  const roots = allowedRoots.join(", ") || "none allowed";
  return `${who} ${does}, outside the allowed mount roots of ${host} (${roots})`;
}

/**
 * `targets` of one stack with every deploy to a host that refuses one of its mounts turned into a
 * skip, and an error per refused mount and host at the mount's position. Hosts without
 * `allowedMountRoots` (no inventory) are left to deploy's own check.
 */
export function applyMountPolicy(
  stack: string,
  mounts: readonly AbsoluteMount[],
  targets: readonly TargetPlan[],
  hosts: ReadonlyMap<string, HostRef>,
): { targets: TargetPlan[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const checked = targets.map((target) => {
    const roots = hosts.get(target.host)?.allowedMountRoots;
    if (target.action !== "deploy" || roots === undefined) return target;
    const refused = refusedMounts(mounts, roots);
    if (refused.length === 0) return target;
    const reasons = refused.map((m) => mountRefusal(m, target.host, roots));
    for (const [i, m] of refused.entries()) {
      const message = `stack "${stack}" is not deployed to ${target.host}: ${reasons[i]}`;
      problems.push({ file: m.file, line: m.line, col: m.col, key: "", message, severity: "error" });
    }
    return { ...target, action: "skip" as const, reasons: [`not deployed: ${reasons.join("; ")}`] };
  });
  return { targets: checked, problems };
}
