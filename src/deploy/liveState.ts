/**
 * What the hosts really run, against what the state store says was deployed (Argo CD's sync
 * status): per (stack, host) with a record, `current` names the recorded release; the compose
 * project's containers exist, run, and have the recorded images and config (compose's config
 * hash); and nothing else runs in the project. One round trip per host for all its stacks
 * (commands/live.ts); the comparison is pure. `stackpilot status --live` and the App's drift
 * rounds (src/drift) both read hosts through `checkLive`.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import type { DeployedState, ExpectedContainers } from "../state/deployed.ts";
import { Limiter } from "../util/limiter.ts";
import { type LiveContainer, type LiveReading, liveProbe, parseLiveProbe } from "./commands/live.ts";
import { stackPaths } from "./commands/paths.ts";
import { errorText } from "./hostDeploy.ts";
import type { Runner } from "./runner.ts";

/** A record as drift detection reads it. */
export type LiveRecord = Pick<DeployedState, "stack" | "host" | "commit" | "release" | "expected">;

export type LiveVerdict =
  | {
      state: "in_sync";
      /** What could not be compared, e.g. a record kept before containers were recorded. */
      notes?: string[];
    }
  | {
      state: "drifted";
      /** What differs, in words: "web: image differs", "worker: not running", "extra container x". */
      differences: string[];
      /** A redeploy of the recorded release can repair it (false when only one-off containers differ). */
      healable: boolean;
    }
  | { state: "unreachable"; error: string };

export type HostReading = LiveReading | { error: string };

/** One host's stacks in one command: their `current` links and their projects' containers. */
export async function readHost(
  runner: Runner,
  host: HostConfig,
  records: readonly LiveRecord[],
): Promise<HostReading> {
  const links = [...new Set(records.map((r) => stackPaths(host.root, r.stack).current))];
  const projects = [...new Set(records.flatMap((r) => (r.expected ? [r.expected.project] : [])))];
  try {
    const r = await runner.run(host.name, liveProbe(links, projects), { timeoutMs: LIVE_TIMEOUT_MS });
    return parseLiveProbe(r.stdout);
  } catch (err) {
    return { error: errorText(err) };
  }
}

/** A host that takes longer than this to list its containers counts as unreachable. */
export const LIVE_TIMEOUT_MS = 30_000;

/**
 * Every record against its host: one `readHost` per host, hosts at once (up to `concurrency`).
 * Verdicts come back in the order of `records`.
 */
export async function checkLive<R extends LiveRecord>(
  runner: Runner,
  hosts: readonly HostConfig[],
  records: readonly R[],
  opts: { concurrency?: number; hostsFile?: string } = {},
): Promise<LiveVerdict[]> {
  const byHost = new Map<string, R[]>();
  for (const r of records) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
  const limit = new Limiter(opts.concurrency ?? 16);
  const readings = new Map<string, Promise<HostReading>>();
  for (const [name, mine] of byHost) {
    const host = hosts.find((h) => h.name === name);
    readings.set(
      name,
      host
        ? limit.run(() => readHost(runner, host, mine))
        : Promise.resolve({ error: `${name} is not in ${opts.hostsFile ?? "the hosts file"}` }),
    );
  }
  return Promise.all(
    records.map(async (r) => {
      const host = hosts.find((h) => h.name === r.host);
      const reading = (await readings.get(r.host)) as HostReading;
      return compareLive(r, host ? stackPaths(host.root, r.stack).current : "", reading);
    }),
  );
}

/** A record against what its host runs. Pure. */
export function compareLive(record: LiveRecord, link: string, reading: HostReading): LiveVerdict {
  if ("error" in reading) return { state: "unreachable", error: reading.error };
  const differences: string[] = [];
  let healable = false;
  const differ = (text: string, canHeal = true) => {
    differences.push(text);
    healable ||= canHeal;
  };
  const recorded = record.release ?? record.commit;
  const runs = reading.currents.get(link) ?? null;
  if (runs === null) differ(`no current release (recorded ${short(recorded)})`);
  else if (runs !== recorded) differ(`current points at ${short(runs)}, recorded ${short(recorded)}`);
  if (!record.expected)
    return differences.length
      ? { state: "drifted", differences, healable }
      : { state: "in_sync", notes: [NOT_RECORDED] };
  for (const d of containerDifferences(record.expected, reading.containers)) differ(d.text, d.healable);
  return differences.length ? { state: "drifted", differences, healable } : { state: "in_sync" };
}

const NOT_RECORDED =
  "containers not compared: deployed before Stackpilot recorded them; the next deploy records them";

/** The project's containers against what the deploy left running. Pure. */
export function containerDifferences(
  expected: ExpectedContainers,
  containers: readonly LiveContainer[],
): { text: string; healable: boolean }[] {
  const out: { text: string; healable: boolean }[] = [];
  const mine = containers.filter((c) => c.project === expected.project);
  for (const [service, want] of Object.entries(expected.services).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const cs = mine.filter((c) => !c.oneoff && c.service === service);
    const say = (text: string) => out.push({ text: `${service}: ${text}`, healable: true });
    if (cs.length === 0) {
      say("no container");
      continue;
    }
    const stopped = cs.filter((c) => c.status !== "running");
    if (stopped.length === cs.length) say(`not running (${stateWords(stopped[0] as LiveContainer)})`);
    else if (stopped.length > 0) say(`${stopped.length} of ${cs.length} containers not running`);
    // "" was recorded where the deploy could not tell (its containers disagreed): nothing to compare.
    if (want.image && cs.some((c) => c.image !== want.image)) say("image differs");
    if (want.configHash && cs.some((c) => c.configHash !== want.configHash)) say("config differs");
    if (cs.length !== want.containers) say(`${cs.length} containers, deployed with ${want.containers}`);
  }
  for (const c of mine)
    if (c.oneoff) out.push({ text: `extra container ${c.name} (one-off, from \`run\`)`, healable: false });
    else if (!(c.service in expected.services))
      out.push({ text: `extra container ${c.name}`, healable: true });
  return out;
}

function stateWords(c: LiveContainer): string {
  return c.status === "exited" ? `exited ${c.exitCode}` : c.status;
}

const short = (id: string) => id.slice(0, 7);
