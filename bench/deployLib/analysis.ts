/** Where a deploy's time goes: remote commands by kind, per-host timelines, deployer steps. */
import type { DeployRecord, ExecEvent, ProductRun } from "./product.ts";
import { fmtMs, median, table } from "./stats.ts";

/** A short name for a remote command line, by what it does in the deploy. */
export function kindOf(line: string): string {
  if (/^docker(-compose| compose) version/.test(line)) return `${line.split(" version")[0]} version (detect)`;
  if (line === "command -v docker-compose") return "command -v docker-compose (detect)";
  // The merged steps (constant `sh -c` scripts, commands/*.ts), by their opening.
  if (line.startsWith(`sh -c 'mkdir -p -- "$1" || exit 1; t="$2.new.$$"`))
    return "take lock + read current (lock)";
  if (line.startsWith(`sh -c 's=$1 r=$2 l=$3 n=$4 c=$5;`))
    return "untar + manifest + publish + switch (upload)";
  if (line.startsWith(`sh -c 'ids=$(docker ps `)) return "docker ps + inspect (health)";
  if (line.startsWith(`sh -c 'cd -- "$1" 2>/dev/null || exit 0; k=$2`)) return "prune releases (prune)";
  if (line.startsWith(`sh -c 'touch -c -- "$1" && ln -sfn`)) return "switch to a release (rollback)";
  const compose = /^docker(?:-compose| compose) .* (up|pull|down|logs)(?: |$)/.exec(line);
  if (compose) return `compose ${compose[1]}`;
  if (line.startsWith("docker ps ")) return "docker ps (health)";
  if (line.startsWith("docker inspect ")) return "docker inspect (health)";
  if (/^mkdir -- \S+\/\.lock$/.test(line)) return "mkdir .lock (lock)";
  if (/^mkdir -p -- \S+\/releases$/.test(line)) return "mkdir -p releases (lock)";
  if (/^mkdir -p -- \S+\/\.incoming-/.test(line)) return "mkdir -p staging (upload)";
  if (/^mkdir -p -- \S+\/\.stackpilot$/.test(line)) return "mkdir -p manifest dir (upload)";
  if (/^dd of=\S+\/\.lock\/details\.json/.test(line)) return "dd lock details (lock)";
  if (/^dd of=\S+\/release\.json/.test(line)) return "dd manifest (upload)";
  if (line.startsWith("tar -x")) return "tar -x (upload)";
  if (/^rm -rf -- \S+\/\.lock$/.test(line)) return "rm .lock (unlock)";
  if (/^rm -rf -- \S+\/releases\/[0-9a-f]+$/.test(line)) return "rm -rf release (upload/prune)";
  if (/^mv -T -- \S+\/\.incoming-/.test(line)) return "mv staging (upload)";
  if (/^mv -T -- \S+\/current\.next /.test(line)) return "mv current.next (switch)";
  if (line.startsWith("touch ")) return "touch release (switch)";
  if (line.startsWith("ln -sfn")) return "ln current.next (switch)";
  if (line.startsWith("readlink ")) return "readlink current (previous)";
  if (line.startsWith("ls -1t ")) return "ls releases (prune)";
  return line.split(" ").slice(0, 2).join(" ");
}

const TRIVIAL = new Set([
  "take lock + read current (lock)",
  "prune releases (prune)",
  "mkdir .lock (lock)",
  "mkdir -p releases (lock)",
  "mkdir -p staging (upload)",
  "mkdir -p manifest dir (upload)",
  "dd lock details (lock)",
  "dd manifest (upload)",
  "rm .lock (unlock)",
  "rm -rf release (upload/prune)",
  "mv staging (upload)",
  "mv current.next (switch)",
  "touch release (switch)",
  "ln current.next (switch)",
  "readlink current (previous)",
  "ls releases (prune)",
]);

const byHost = (events: readonly ExecEvent[]) => {
  const m = new Map<string, ExecEvent[]>();
  for (const e of events) m.set(e.host, [...(m.get(e.host) ?? []), e]);
  for (const list of m.values()) list.sort((a, b) => a.start - b.start);
  return m;
};

/** Time on the host's timeline not covered by any of its commands (local work: DB, git, waits). */
function uncovered(list: readonly ExecEvent[]): number {
  let covered = 0;
  let until = -Infinity;
  for (const e of list) {
    const s = Math.max(e.start, until);
    if (e.end > s) covered += e.end - s;
    until = Math.max(until, e.end);
  }
  const first = list[0]?.start ?? 0;
  const last = Math.max(...list.map((e) => e.end));
  return last - first - covered;
}

export interface Breakdown {
  text: string;
  roundTripsPerDeploy: number;
  trivialRoundTripMs: number;
}

/** Report over several runs of one stack deployed to many hosts. */
export function breakdown(runs: readonly ProductRun[]): Breakdown {
  const out: string[] = [];
  const all = runs.flatMap((r) => r.events);
  const deploys: DeployRecord[] = runs.flatMap((r) => r.deploys);

  // Phases of the run.
  out.push(
    table(
      ["phase (median over rounds)", "time"],
      [
        ["state (recoverInterrupted + getDeployed)", fmtMs(median(runs.map((r) => r.stateMs)))],
        ["plan (planRange)", fmtMs(median(runs.map((r) => r.planMs)))],
        ["runPlan (10 jobs, incl. SSH connects)", fmtMs(median(runs.map((r) => r.runMs)))],
        [
          "  slowest job (HostJobResult.durationMs)",
          fmtMs(median(runs.map((r) => Math.max(...r.results.map((j) => j.durationMs))))),
        ],
        ["  fastest job", fmtMs(median(runs.map((r) => Math.min(...r.results.map((j) => j.durationMs)))))],
        [
          "  last host's first command - runPlan start (queueing)",
          fmtMs(
            median(
              runs.map((r) => {
                const firsts = [...byHost(r.events).values()].map((l) => (l[0] as ExecEvent).start);
                return Math.max(...firsts) - r.runStart;
              }),
            ),
          ),
        ],
        ["pool close (after the results, not in the wall time)", fmtMs(median(runs.map((r) => r.closeMs)))],
      ],
    ),
  );

  // Deployer steps.
  // The step names DeployResult.timings uses, in the order they first appear.
  const steps = [...new Set(deploys.flatMap((d) => Object.keys(d.result.timings)))];
  const stepRows = steps.map((s) => [
    s,
    fmtMs(median(deploys.map((d) => d.result.timings[s] ?? 0))),
    fmtMs(Math.max(...deploys.map((d) => d.result.timings[s] ?? 0))),
  ]);
  const jobs = runs.flatMap((r) => r.results);
  const stepSum = median(deploys.map((d) => steps.reduce((n, s) => n + (d.result.timings[s] ?? 0), 0)));
  stepRows.push(["sum of steps", fmtMs(stepSum), ""]);
  stepRows.push([
    "job (orchestrator, incl. DB, compose detection, unlock)",
    fmtMs(median(jobs.map((j) => j.durationMs))),
    fmtMs(Math.max(...jobs.map((j) => j.durationMs))),
  ]);
  out.push("", table(["deployer step (DeployResult.timings)", "median", "max"], stepRows));

  // State store calls (PGlite, in this process).
  const db = new Map<string, { calls: number; ms: number }>();
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.db)) {
      const a = db.get(k) ?? { calls: 0, ms: 0 };
      a.calls += v.calls;
      a.ms += v.ms;
      db.set(k, a);
    }
  }
  const dbJobs = runs.reduce((n, r) => n + r.results.length, 0);
  const dbRows = [...db.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .map(([k, v]) => [k, (v.calls / dbJobs).toFixed(1), fmtMs(v.ms / v.calls), fmtMs(v.ms / dbJobs)]);
  const dbTotal = [...db.values()].reduce((n, v) => n + v.ms, 0) / dbJobs;
  dbRows.push(["total", "", "", fmtMs(dbTotal)]);
  out.push(
    "",
    table(["state store call (PGlite in-process)", "per deploy", "mean (awaited)", "per deploy"], dbRows),
  );

  // Commands by kind.
  const kinds = new Map<string, ExecEvent[]>();
  for (const e of all) {
    const k = kindOf(e.line);
    kinds.set(k, [...(kinds.get(k) ?? []), e]);
  }
  const jobCount = jobs.length;
  const kindRows = [...kinds.entries()]
    .sort(
      (a, b) =>
        median(b[1].map((e) => e.end - e.start)) * b[1].length -
        median(a[1].map((e) => e.end - e.start)) * a[1].length,
    )
    .map(([k, es]) => [
      k,
      (es.length / jobCount).toFixed(1),
      fmtMs(median(es.map((e) => e.end - e.start))),
      fmtMs(median(es.map((e) => e.remoteMs))),
      fmtMs((median(es.map((e) => e.end - e.start)) * es.length) / jobCount),
    ]);
  const perDeploy = all.length / jobCount;
  out.push(
    "",
    table(["remote command", "per deploy", "median (call)", "median (channel)", "time per deploy"], kindRows),
  );
  const trivial = all.filter((e) => TRIVIAL.has(kindOf(e.line)));
  const trivialMs = median(trivial.map((e) => e.end - e.start));
  out.push(
    "",
    `${perDeploy.toFixed(1)} remote commands (SSH round trips, each its own exec channel) per (stack, host) deploy; ` +
      `${(trivial.length / jobCount).toFixed(1)} of them trivial file operations at ${fmtMs(trivialMs)} median each ` +
      `(${fmtMs((trivialMs * trivial.length) / jobCount)} per deploy).`,
  );

  // Timeline of the slowest job of the median round.
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const mid = sorted[(sorted.length - 1) >> 1] as ProductRun;
  const slow = [...mid.results].sort((a, b) => b.durationMs - a.durationMs)[0];
  if (slow) {
    const list = byHost(mid.events).get(slow.host) ?? [];
    out.push(
      "",
      `Timeline of the slowest job of the median round (${slow.host}, ${fmtMs(slow.durationMs)}; times from runPlan start; ` +
        `${fmtMs(uncovered(list))} of its span between commands = local work):`,
    );
    out.push(
      table(
        ["start", "call", "channel", "command"],
        list.map((e) => [
          fmtMs(e.start - mid.runStart),
          fmtMs(e.end - e.start),
          fmtMs(e.remoteMs),
          `${kindOf(e.line)}${e.code === 0 ? "" : ` [exit ${e.code}]`}`,
        ]),
      ),
    );
  }
  return { text: out.join("\n"), roundTripsPerDeploy: perDeploy, trivialRoundTripMs: trivialMs };
}
