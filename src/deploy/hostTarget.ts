/**
 * A host as a deploy target: its compose flavor (detected once per host and transport, for a
 * while) and the fields the deployer needs.
 */
import { LRUCache } from "lru-cache";
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

/**
 * How long a detected flavor is trusted. A host whose compose changes meanwhile (the plugin
 * installed or removed) is asked again once this passed, or at once after a failed deploy there
 * (`forgetCompose`): until then its deploys use what it had.
 */
export const COMPOSE_FLAVOR_TTL_MS = 10 * 60_000;

/** What a flavor is asked with: the host, and the runner that records the probe where it ran. */
interface FlavorAsk {
  runner: Runner;
  host: HostConfig;
}
type FlavorCache = LRUCache<string, ComposeFlavor, FlavorAsk>;
/**
 * Flavors per transport: the App's SSH pool lives as long as the App, so a fleet's rollouts ask
 * each host once per ttl instead of once per deploy (a round trip on every host of a rollout).
 * lru-cache's fetch shares one probe among concurrent callers and keeps no failure.
 */
const flavorCaches = new WeakMap<object, FlavorCache>();

const cacheOf = (transport: object): FlavorCache => {
  let cache = flavorCaches.get(transport);
  if (!cache) {
    cache = new LRUCache<string, ComposeFlavor, FlavorAsk>({
      max: 10_000,
      ttl: COMPOSE_FLAVOR_TTL_MS,
      fetchMethod: (_key, _stale, { context }) => detectCompose(context.runner, context.host),
    });
    flavorCaches.set(transport, cache);
  }
  return cache;
};
const flavorKey = (host: HostConfig) => `${host.name}\0${host.compose}`;

/** `detectCompose`, remembered per (transport, host) for COMPOSE_FLAVOR_TTL_MS; failures are not. */
export async function composeOf(transport: object, runner: Runner, host: HostConfig): Promise<ComposeFlavor> {
  const flavor = await cacheOf(transport).fetch(flavorKey(host), { context: { runner, host } });
  // Only an aborted fetch answers nothing, and nothing aborts these.
  if (!flavor) throw new Error(`${host.name}: no compose flavor`);
  return flavor;
}

/** Ask the host again next time (its deploy failed: the flavor may be what changed). */
export const forgetCompose = (transport: object, host: HostConfig): void => {
  cacheOf(transport).delete(flavorKey(host));
};

export function hostTarget(h: HostConfig, compose: ComposeFlavor): HostTarget {
  return { name: h.name, root: h.root, compose, allowedMountRoots: h.allowed_mount_roots };
}

/** One promise per key: the first caller starts it, later ones share it. */
export function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const p = map.get(key) ?? make();
  map.set(key, p);
  return p;
}
