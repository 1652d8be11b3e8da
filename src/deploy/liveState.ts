/**
 * What the hosts really run, against what the state store says was deployed (Argo CD's
 * "out of sync"): a release switched by hand, or removed, shows up here instead of being trusted
 * by the next plan. One round trip per host (`readCurrents`); the comparison is pure.
 */
import { posix } from "node:path";
import type { HostConfig } from "../config/hostsFile.ts";
import type { DeployedState } from "../state/deployed.ts";
import { stackPaths } from "./commands/paths.ts";
import { readCurrents } from "./commands/release.ts";
import { errorText } from "./hostDeploy.ts";
import type { Runner } from "./runner.ts";

/** What one (stack, host) runs: a release id, none, or why it could not be read. */
export type LiveRelease = { release: string | null } | { error: string };

export type LiveVerdict =
  | { state: "in_sync" }
  /** `current` names another release than the one recorded. */
  | { state: "drift"; runs: string }
  /** No `current` on the host: removed by hand, or the deploy root changed. */
  | { state: "missing" }
  | { state: "unknown"; error: string };

/** Where each of `stacks` points on `host`, read in one command. */
export async function readLiveReleases(
  runner: Runner,
  host: HostConfig,
  stacks: readonly string[],
): Promise<Map<string, LiveRelease>> {
  const links = new Map(stacks.map((s) => [stackPaths(host.root, s).current, s]));
  try {
    const r = await runner.run(host.name, readCurrents([...links.keys()]));
    const found = parseCurrents(r.stdout);
    return new Map([...links].map(([link, stack]) => [stack, { release: found.get(link) ?? null }]));
  } catch (err) {
    return new Map(stacks.map((s) => [s, { error: errorText(err) }]));
  }
}

/** `readCurrents` output -> link -> release id (the last path element of the link's target). */
export function parseCurrents(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const tab = line.indexOf("\t");
    if (tab < 0) continue;
    const target = line.slice(tab + 1).trim();
    if (target) out.set(line.slice(0, tab), posix.basename(target));
  }
  return out;
}

/** A recorded deploy against what its host runs. Pure. */
export function compareLive(
  deployed: Pick<DeployedState, "commit" | "release">,
  live: LiveRelease,
): LiveVerdict {
  if ("error" in live) return { state: "unknown", error: live.error };
  if (live.release === null) return { state: "missing" };
  return live.release === (deployed.release ?? deployed.commit)
    ? { state: "in_sync" }
    : { state: "drift", runs: live.release };
}
