/**
 * Triggers benchmark, on real test hosts (test/e2e/harness: sshd + dockerd per host; needs root and
 * `bash test/e2e/harness/install.sh`). The App's services run in this process as `npm start` wires
 * them (pg-boss on PGlite, the planner thread, the SSH pool), with a simulated GitHub Enterprise on
 * the git server's origin. Requirements (reported, not asserted; exit 0 unless the benchmark breaks):
 *
 * 1. Trigger to first remote command: a signed `POST /triggers/ping` whose procedure's first step
 *    is a hook on h1 writing the time it starts (`date +%s%N`, the hosts share this machine's
 *    clock). Median and p99 over BENCH_TRIGGERS (50) sequential triggers, against a bare
 *    `ssh host true` (and a bare ssh to the start of its remote command) in the same run. Target:
 *    ours minus bare ssh at most 150 ms median. The App's SSH connection is warm after the warm-up
 *    triggers, as in a running App; the run itself fetches the branch from the git server each time.
 * 2. A procedure fanning one stage out to 10 hosts (one changed stack, deploy-if-changed): the time
 *    from the trigger to the run's end (its `finishedAt`, not the ?wait=true poll) at most 1.2x the
 *    slowest host of a raw `ssh host 'docker-compose up -d'` on all 10 at once, same round.
 *
 * Knobs: BENCH_TRIGGERS (default 50), BENCH_ROUNDS (part 2, default 3), BENCH_PARTS ("1", "2"),
 * BENCH_TRIGGERS_POSTGRES=1 (the App's state on a PostgreSQL server instead of embedded PGlite).
 *   node_modules/.bin/node bench/triggers.bench.ts      (as root)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Harness, hostEntry, startHarness, type TestHost } from "../test/e2e/harness/harness.ts";
import { type AppInProcess, startAppInProcess } from "../test/helpers/appInProcess.ts";
import { fakeGitHub } from "../test/helpers/fakeGitHub.ts";
import { type GitHttpServer, startGitHttpServer } from "../test/helpers/gitHttpServer.ts";
import { type PostgresServer, startPostgres } from "../test/helpers/postgresServer.ts";
import { sign } from "../test/helpers/webhooks.ts";
import { appCompose, baselineCompose } from "./deployLib/repos.ts";
import { baselineCommand, check, sshRun, writeKnownHosts } from "./deployLib/sshBaseline.ts";
import { fmtMs, fmtRatio, fmtSample, max, median, table } from "./deployLib/stats.ts";

const TRIGGERS = Number(process.env.BENCH_TRIGGERS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTS = new Set((process.env.BENCH_PARTS ?? "1,2").split(",").map((p) => p.trim()));
/** Part 2 fans out to 10 hosts; part 1 alone needs one. */
const HOSTS = PARTS.has("2") ? 10 : 2;
const REPO = "bench/fleet";
const SECRET = "bench-trigger-secret";
const TARGET_OVERHEAD_MS = 150;
const TARGET_RATIO = 1.2;
const ON_POSTGRES = process.env.BENCH_TRIGGERS_POSTGRES === "1";

const CONFIG = `version: 1
defaults:
  environment: production
environments:
  production:
    hosts: ["h*"]
    deploy_on: command
stacks:
  - { name: app, hosts: ["*"] }
procedures:
  ping:
    stages:
      - name: first
        steps:
          - hook: { run: 'date +%s%N >> "$HOME/sp-trigger-marks"', hosts: ["h1"] }
  fleet:
    stages:
      - name: everywhere
        steps:
          - deploy: { stacks: ["app"] }
`;

const started = performance.now();
const loadAtStart = loadavg()[0] as number;
const log = (s: string) =>
  process.stderr.write(`[triggers.bench ${((performance.now() - started) / 1000).toFixed(1)} s] ${s}\n`);
const yes = (ok: boolean) => (ok ? "yes" : "NO");
/** Wall-clock milliseconds with sub-millisecond precision (comparable with the hosts' `date`). */
const wallMs = () => performance.timeOrigin + performance.now();
const p99 = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1] ?? NaN;

type Row = [
  metric: string,
  stackpilot: string,
  baseline: string,
  difference: string,
  target: string,
  met: string,
];
const rows: Row[] = [];

const tmp = mkdtempSync(join(tmpdir(), "sp-bench-triggers-"));
let h: Harness | undefined;
let git: GitHttpServer | undefined;
let app: AppInProcess | undefined;
let postgres: PostgresServer | undefined;
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => void (h?.stop() ?? Promise.resolve()).finally(() => process.exit(130)));

try {
  log(`starting the harness (${HOSTS} hosts)`);
  const harness = await startHarness({ hosts: HOSTS });
  h = harness;
  const github = fakeGitHub();
  git = await startGitHttpServer({ token: github.token, api: github.handle });
  const repo = git.createRepo(REPO);
  let head = repo.commit(
    { ".github/stackpilot.yml": CONFIG, "stacks/app/compose.yaml": appCompose("0") },
    "init",
  );
  github.setRepository(REPO, { cloneUrl: git.cloneUrl(REPO), bareDir: repo.bareDir });
  const hostsFile = join(tmp, "hosts.yml");
  const trigger = (name: string) => ({
    name,
    repository: REPO,
    branch: "main",
    procedure: name,
    secret: { env: "BENCH_TRIGGER_SECRET" },
  });
  writeFileSync(
    hostsFile,
    JSON.stringify({
      hosts: harness.hosts.map((t) => hostEntry(t)),
      triggers: [trigger("ping"), trigger("fleet")],
    }),
  );
  process.env.BENCH_TRIGGER_SECRET = SECRET;
  postgres = ON_POSTGRES ? await startPostgres() : undefined;
  app = await startAppInProcess({
    git,
    dataDir: join(tmp, "data"),
    hostsFile,
    ...(postgres ? { env: { DATABASE_URL: await postgres.createDatabase() } } : {}),
  });
  const { services, server } = app;
  const port = server.port;
  const store = services.store;
  let delivery = 0;

  /** A signed POST; the request's wall-clock start and the run's id once it ended. */
  const fire = async (name: string, push?: { before: string; after: string }) => {
    const body = push
      ? JSON.stringify({ ref: "refs/heads/main", ...push, repository: { full_name: REPO } })
      : "";
    const t0 = wallMs();
    const res = await fetch(`http://127.0.0.1:${port}/triggers/${name}?wait=true`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": sign(body, SECRET),
        "x-github-delivery": `bench-${++delivery}`,
      },
      body,
    });
    const json = (await res.json()) as { id: number; result?: { status: string } };
    if (res.status !== 200 || json.result?.status !== "succeeded")
      throw new Error(`trigger ${name}: ${res.status} ${JSON.stringify(json).slice(0, 2000)}`);
    const run = await store.procedures.getRun(json.id);
    return { t0, id: json.id, endMs: run?.finishedAt?.getTime() ?? NaN };
  };
  const known = writeKnownHosts(join(tmp, "known_hosts"), harness.hosts);
  const h1 = harness.hosts[0] as TestHost;

  // The App's own account of each run's start (stackpilot_procedure_start_phase_seconds), measured triggers only.
  const phaseSums = async () => {
    const m = await services.metrics.registry
      .getSingleMetric("stackpilot_procedure_start_phase_seconds")
      ?.get();
    const sums = new Map<string, { sum: number; count: number }>();
    for (const v of m?.values ?? []) {
      const phase = String(v.labels.phase);
      const e = sums.get(phase) ?? { sum: 0, count: 0 };
      if ((v as { metricName?: string }).metricName?.endsWith("_sum")) e.sum = v.value;
      if ((v as { metricName?: string }).metricName?.endsWith("_count")) e.count = v.value;
      sums.set(phase, e);
    }
    return sums;
  };
  if (PARTS.has("1")) {
    const marks = join(h1.home, "sp-trigger-marks");
    const lastMark = () => {
      const lines = readFileSync(marks, "utf8").trim().split("\n");
      return Number(BigInt(lines.at(-1) ?? "0") / 1000n) / 1000; // ns -> ms
    };
    log("part 1: warm-up (3 triggers)");
    for (let i = 0; i < 3; i++) await fire("ping");
    const ours: number[] = [];
    /** Where the time goes: request -> run stored -> run started (startRun) -> first step started -> remote command. */
    const phases = {
      created: [] as number[],
      picked: [] as number[],
      prepared: [] as number[],
      remote: [] as number[],
    };
    const bare: number[] = [];
    const bareToStart: number[] = [];
    const phasesBefore = await phaseSums();
    for (let i = 1; i <= TRIGGERS; i++) {
      // Alternate which side goes first, so neither always runs on a quieter machine.
      const measureBare = async () => {
        bare.push(check(await sshRun(h1, known, "true"), "ssh true").ms);
        const t0 = wallMs();
        check(await sshRun(h1, known, 'date +%s%N >> "$HOME/sp-bare-marks"'), "ssh date");
        const line = readFileSync(join(h1.home, "sp-bare-marks"), "utf8").trim().split("\n").at(-1) ?? "0";
        bareToStart.push(Number(BigInt(line) / 1000n) / 1000 - t0);
      };
      if (i % 2) await measureBare();
      const { t0, id } = await fire("ping");
      const mark = lastMark();
      ours.push(mark - t0);
      const run = await store.procedures.getRun(id);
      const step = (await store.procedures.listSteps(id))[0];
      const at = (d: Date | null | undefined) => d?.getTime() ?? Number.NaN;
      phases.created.push(at(run?.createdAt) - t0);
      phases.picked.push(at(run?.startedAt) - at(run?.createdAt));
      phases.prepared.push(at(step?.startedAt) - at(run?.startedAt));
      phases.remote.push(mark - at(step?.startedAt));
      if (!(i % 2)) await measureBare();
      if (i % 10 === 0)
        log(
          `part 1: ${i}/${TRIGGERS}: ours median ${fmtMs(median(ours))}, bare ssh true ${fmtMs(median(bare))}`,
        );
    }
    const overhead = median(ours) - median(bare);
    rows.push(
      [
        "trigger -> first remote command, median",
        fmtMs(median(ours)),
        fmtMs(median(bare)),
        fmtMs(overhead),
        `<= ${TARGET_OVERHEAD_MS} ms`,
        yes(overhead <= TARGET_OVERHEAD_MS),
      ],
      [
        "trigger -> first remote command, p99",
        fmtMs(p99(ours)),
        fmtMs(p99(bare)),
        fmtMs(p99(ours) - p99(bare)),
        "-",
        "-",
      ],
      [
        "(bare ssh to its command's start, median)",
        "-",
        fmtMs(median(bareToStart)),
        fmtMs(median(ours) - median(bareToStart)),
        "-",
        "-",
      ],
    );
    const phasesAfter = await phaseSums();
    console.log(
      `part 1, the App's start phases (mean ms over the measured triggers): ${[...phasesAfter]
        .map(([phase, a]) => {
          const b = phasesBefore.get(phase) ?? { sum: 0, count: 0 };
          return `${phase} ${(((a.sum - b.sum) / Math.max(1, a.count - b.count)) * 1000).toFixed(1)}`;
        })
        .join(", ")}`,
    );
    console.log(
      `part 1, medians: request -> run stored ${fmtMs(median(phases.created))}; -> run started (queue pickup, run lock, GitHub lookups, git fetch, policy) ${fmtMs(median(phases.picked))}; ` +
        `-> first step started (changed files, check run) ${fmtMs(median(phases.prepared))}; -> remote command ${fmtMs(median(phases.remote))}`,
    );
  }

  if (PARTS.has("2")) {
    const baseDir = (t: TestHost) => `${t.home}/bench-base`;
    log("part 2: first deploy of the stack to 10 hosts through the trigger (untimed), baseline set-up");
    await fire("fleet", { before: "0".repeat(40), after: head });
    for (const t of harness.hosts) {
      const r = await harness.exec(
        t,
        ["sh", "-c", `mkdir -p ${baseDir(t)} && cat > ${baseDir(t)}/compose.yaml`],
        {
          input: baselineCompose,
        },
      );
      if (r.code !== 0) throw new Error(`baseline set-up on ${t.name}: ${r.stderr}`);
    }
    const baseline = async (round: string) =>
      max(
        (
          await Promise.all(
            harness.hosts.map((t) => sshRun(t, known, baselineCommand(baseDir(t), "benchbase", round))),
          )
        ).map((x) => check(x, "baseline").ms),
      );
    await baseline("0");
    const ours: number[] = [];
    const base: number[] = [];
    const ratios: number[] = [];
    /** Seconds the App spent planning so far (stackpilot_plan_duration_seconds). */
    const planSeconds = async () =>
      (
        (await services.metrics.registry.getSingleMetric("stackpilot_plan_duration_seconds")?.get())
          ?.values ?? []
      )
        .filter((v) => (v as { metricName?: string }).metricName?.endsWith("_sum"))
        .reduce((a, v) => a + v.value, 0);
    for (let r = 1; r <= ROUNDS; r++) {
      const before = head;
      head = repo.commit({ "stacks/app/compose.yaml": appCompose(String(r)) }, `round ${r}`);
      let b = Number.NaN;
      if (r % 2) b = await baseline(String(r));
      const planBefore = await planSeconds();
      const startBefore = await phaseSums();
      const run = await fire("fleet", { before, after: head });
      if (!(r % 2)) b = await baseline(String(r));
      const made = (await store.listDeployments({ repo: REPO, limit: HOSTS })).filter(
        (d) => d.commit === head,
      );
      if (made.length !== HOSTS || made.some((d) => d.status !== "succeeded"))
        throw new Error(`round ${r}: ${made.length} deployments of ${head}, not ${HOSTS} succeeded`);
      ours.push(run.endMs - run.t0);
      base.push(b);
      // Where the round went: the run's start, then planning and GitHub until the first host starts,
      // the hosts' deploys (first start to last end), then the run's end.
      const stored = await store.procedures.getRun(run.id);
      const ms = (d: Date | null | undefined) => d?.getTime() ?? Number.NaN;
      const firstStart = Math.min(...made.map((d) => ms(d.startedAt)));
      const lastEnd = Math.max(...made.map((d) => ms(d.finishedAt)));
      const slowestHost = Math.max(...made.map((d) => ms(d.finishedAt) - ms(d.startedAt)));
      const planned = ((await planSeconds()) - planBefore) * 1000;
      const startAfter = await phaseSums();
      log(
        `part 2 round ${r}, the run's start phases (ms): ${[...startAfter]
          .map(([phase, a]) => `${phase} ${((a.sum - (startBefore.get(phase)?.sum ?? 0)) * 1000).toFixed(0)}`)
          .join(", ")}`,
      );
      log(
        `part 2 round ${r} phases: request -> run started ${fmtMs(ms(stored?.startedAt) - run.t0)}; -> first host deploy started (plan ${fmtMs(planned)}, GitHub Deployment, check run, locks) ${fmtMs(firstStart - ms(stored?.startedAt))}; ` +
          `hosts' deploys ${fmtMs(lastEnd - firstStart)} (slowest host ${fmtMs(slowestHost)}); -> run ended ${fmtMs(run.endMs - lastEnd)}`,
      );
      // The slowest host's commands, each with the time since the one before (or the deploy's start).
      const slowest = made.reduce((a, d) =>
        ms(d.finishedAt) - ms(d.startedAt) > ms(a.finishedAt) - ms(a.startedAt) ? d : a,
      );
      const logs = (await store.getDeployment(slowest.id))?.logs ?? [];
      let at = ms(slowest.startedAt);
      log(
        `part 2 round ${r}, ${slowest.host}'s commands: ${logs
          .map((l) => {
            const d = l.createdAt.getTime() - at;
            at = l.createdAt.getTime();
            return `${l.command.replace(/\s+/g, " ").slice(0, 48)} +${d} ms`;
          })
          .join("; ")}; recorded as finished +${ms(slowest.finishedAt) - at} ms`,
      );
      ratios.push((run.endMs - run.t0) / b);
      log(
        `part 2 round ${r}: trigger to run end ${fmtMs(run.endMs - run.t0)}; baseline slowest of 10 ${fmtMs(b)}`,
      );
    }
    rows.push([
      `procedure, one stage to 10 hosts (trigger to run end${ON_POSTGRES ? ", Postgres" : ", PGlite"})`,
      fmtSample(ours),
      fmtSample(base),
      `${fmtRatio(median(ratios))} (median of rounds)`,
      `<= ${TARGET_RATIO}x`,
      yes(median(ratios) <= TARGET_RATIO),
    ]);
  }
} finally {
  // The table first: a slow teardown on a busy machine must not lose the figures.
  console.log(table(["metric", "stackpilot", "baseline", "difference", "target", "met?"], rows));
  console.log(
    `\ntriggers benchmark: ${((performance.now() - started) / 1000).toFixed(1)} s. 1-min load average at the start: ` +
      `${loadAtStart.toFixed(2)} on ${availableParallelism()} CPUs (well above 1 means other work was running).`,
  );
  for (const [what, stop] of [
    ["App", () => app?.close()],
    ["git server", () => git?.close()],
    ["Postgres", () => postgres?.stop()],
    ["harness", () => h?.stop()],
  ] as const)
    await Promise.resolve(stop()).catch((err: Error) => log(`stopping the ${what}: ${err.message}`));
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
