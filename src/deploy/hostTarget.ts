/**
 * A host as a deploy target: its compose flavor (detected once per host per run) and the
 * fields the deployer needs.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import { type ComposeFlavor, composeFlavorProbe } from "./commands/compose.ts";
import type { HostTarget } from "./hostDeploy.ts";
import type { Runner } from "./runner.ts";

/**
 * `auto`: v2 when the compose plugin is installed, else v1 when `docker-compose` is on the PATH, in
 * one round trip of shell builtins (neither is run: a broken install fails at `up`, with its own error).
 */
export async function detectCompose(runner: Runner, host: HostConfig): Promise<ComposeFlavor> {
  if (host.compose === "docker compose") return "v2";
  if (host.compose === "docker-compose") return "v1";
  const probe = await runner.run(host.name, composeFlavorProbe(), { allowFailure: true });
  const answer = probe.stdout.trim();
  if (probe.code === 0 && (answer === "v2" || answer === "v1")) return answer;
  throw new Error(
    `${host.name}: neither the \`docker compose\` plugin nor \`docker-compose\` is installed there`,
  );
}

export function hostTarget(h: HostConfig, compose: ComposeFlavor): HostTarget {
  return { name: h.name, root: h.root, compose, allowedMountRoots: h.allowed_mount_roots };
}

/** One promise per key: the first caller starts it, later ones share it. */
export function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const p = map.get(key) ?? make();
  map.set(key, p);
  return p;
}
