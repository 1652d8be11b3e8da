/**
 * The product path of `stackpilot deploy`, wired as src/cli/deploy.ts wires it (store, a fresh SSH
 * pool, planRange, runPlan, HostDeployer), with instruments around it: every remote command with
 * its start/end, the deployer's per-step timings and the phases of the run.
 */
import { createHash } from "node:crypto";
import { realpathSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type HostConfig, hostRefs, type RegistryConfig } from "../../src/config/hostsFile.ts";
import { type DeployResult, HostDeployer } from "../../src/deploy/hostDeploy.ts";
import { type DeployLedger, type HostJobResult, runPlan } from "../../src/deploy/orchestrate.ts";
import type { RemoteExec, RemoteExecOptions, RemoteResult } from "../../src/deploy/runner.ts";
import { SshPool } from "../../src/deploy/ssh/pool.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import type { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";
import { planDeploy } from "../../src/plan/planDeploy.ts";
import type { Store } from "../../src/state/store.ts";
import { machineBusyMs, processCpuMs } from "./stats.ts";

export interface ExecEvent {
  host: string;
  line: string;
  /** ms since the run started: when exec was called, and when it returned. */
  start: number;
  end: number;
  /** The command itself, from its channel opening (RemoteResult.durationMs). */
  remoteMs: number;
  code: number | null;
}

/** Wraps a transport: counts and records every command sent. */
export class RecordingExec implements RemoteExec {
  readonly events: ExecEvent[] = [];
  calls = 0;
  readonly #inner: RemoteExec;
  readonly #t0: number;
  constructor(inner: RemoteExec, t0: number) {
    this.#inner = inner;
    this.#t0 = t0;
  }
  async exec(host: string, commandLine: string, opts?: RemoteExecOptions): Promise<RemoteResult> {
    this.calls++;
    const start = performance.now() - this.#t0;
    let result: RemoteResult | undefined;
    try {
      result = await this.#inner.exec(host, commandLine, opts);
      return result;
    } finally {
      this.events.push({
        host,
        line: commandLine,
        start,
        end: performance.now() - this.#t0,
        remoteMs: result?.durationMs ?? Number.NaN,
        code: result ? result.code : null,
      });
    }
  }
}

export interface ProductContext {
  repo: GitRepo;
  repoId: string;
  hosts: HostConfig[];
  /** The hosts file's registries (builders are among the hosts), for the image plan. */
  registries?: RegistryConfig[];
  store: Store;
  dataDir: string;
  healthTimeoutS?: number;
  /** runPlan's concurrency; unset = its defaults, as the CLI runs it. */
  concurrency?: { total?: number; perHost?: number };
}

export interface DeployRecord {
  stack: string;
  host: string;
  result: DeployResult;
}

export interface ProductRun {
  /** recoverInterrupted + getDeployed + planRange + runPlan, with a fresh pool (connects included). */
  wallMs: number;
  stateMs: number;
  planMs: number;
  runMs: number;
  /** Closing the pool, after the results are in (not in wallMs). */
  closeMs: number;
  plan: Plan;
  results: HostJobResult[];
  deploys: DeployRecord[];
  events: ExecEvent[];
  calls: number;
  /** SSH connections the pool opened. */
  connects: number;
  /** ms since the run started at which runPlan was called. */
  runStart: number;
  /** CPU of this process (the deployer) and of the whole machine (hosts too), over wallMs. */
  cpuMs: number;
  machineCpuMs: number;
  /** State store calls made by runPlan: count and summed awaited time, by method. */
  db: Record<string, { calls: number; ms: number }>;
}

/** The store as runPlan's ledger, timing every call (PGlite runs in this process, on its thread). */
function timedLedger(store: Store): { ledger: DeployLedger; stats: ProductRun["db"] } {
  const stats: ProductRun["db"] = {};
  const add = (name: string, ms: number) => {
    const s = stats[name] ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += ms;
    stats[name] = s;
  };
  const timed =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await fn(...args);
      } finally {
        add(name, performance.now() - t0);
      }
    };
  const ledger: DeployLedger = {
    createDeployment: timed("createDeployment", (i) => store.createDeployment(i)),
    startDeployment: timed("startDeployment", (id) => store.startDeployment(id)),
    finishDeployment: timed("finishDeployment", (id, i) => store.finishDeployment(id, i)),
    appendCommandLog: timed("appendCommandLog", (id, i) => store.appendCommandLog(id, i)),
    setDeployed: timed("setDeployed", (i) => store.setDeployed(i)),
    startBuild: timed("startBuild", (i) => store.startBuild(i)),
    finishBuild: timed("finishBuild", (id, r) => store.finishBuild(id, r)),
    supersedeIfStale: timed("supersedeIfStale", (id) => store.supersedeIfStale(id)),
    // The lock itself: acquire and release, not the job run inside it.
    withLock: (key, holder, ttlMs, fn, details) => {
      const t0 = performance.now();
      let inner = 0;
      return store
        .withLock(
          key,
          holder,
          ttlMs,
          async (signal) => {
            const t1 = performance.now();
            try {
              return await fn(signal);
            } finally {
              inner = performance.now() - t1;
            }
          },
          details,
        )
        .finally(() => {
          add("withLock (acquire + release)", performance.now() - t0 - inner);
        });
    },
  };
  return { ledger, stats };
}

/** The installation id the CLI writes into host locks (src/cli/session.ts). */
export function installationId(dataDir: string): string {
  return createHash("sha256")
    .update(`pglite:${realpathSync(dataDir)}`)
    .digest("hex")
    .slice(0, 16);
}

/**
 * BENCH_CPU_PROFILE=<dir>: a V8 CPU profile of this process per product run (state, plan and
 * runPlan only), written as <dir>/run-<n>.cpuprofile for Chrome DevTools or speedscope.
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
let profiled = 0;

async function startProfile(): Promise<Session | undefined> {
  if (!PROFILE_DIR) return undefined;
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  return session;
}

async function stopProfile(session: Session | undefined): Promise<void> {
  if (!session || !PROFILE_DIR) return;
  const { profile } = await session.post("Profiler.stop");
  session.disconnect();
  writeFileSync(join(PROFILE_DIR, `run-${++profiled}.cpuprofile`), JSON.stringify(profile));
}

export async function productRun(ctx: ProductContext, head: string): Promise<ProductRun> {
  const profile = await startProfile();
  const t0 = performance.now();
  const cpu0 = processCpuMs();
  const machine0 = machineBusyMs();
  const pool = new SshPool(ctx.hosts, { dataDir: ctx.dataDir });
  const remote = new RecordingExec(pool, t0);
  const deploys: DeployRecord[] = [];
  try {
    await ctx.store.recoverInterrupted();
    const deployed = (await ctx.store.getDeployed(ctx.repoId)).map((d) => ({
      stack: d.stack,
      host: d.host,
      fingerprint: d.fingerprint,
      commit: d.commit,
      pinned: d.pinned,
    }));
    const t1 = performance.now();
    const base = await ctx.repo.resolveCommit(`${head}~1`);
    // As the CLI plans: with the builds and image operations of stacks that build.
    const registries = ctx.registries ?? [];
    const {
      plan,
      images,
      head: snapshot,
    } = await planDeploy(
      ctx.repo,
      {
        ...(base ? { base } : {}),
        head,
        hosts: hostRefs(ctx.hosts),
        deployed,
        inventory: { hosts: ctx.hosts, registries },
        repoId: ctx.repoId,
        builds: await ctx.store.listReusableBuilds(ctx.repoId),
      },
      new ParseCache(),
    );
    if (!plan.ok) throw new Error(`plan not ok: ${JSON.stringify(plan.problems)}`);
    const t2 = performance.now();
    const lockOwner = installationId(ctx.dataDir);
    const ledger = timedLedger(ctx.store);
    const results = await runPlan({
      repo: ctx.repo,
      repoId: ctx.repoId,
      plan,
      head: snapshot,
      hosts: ctx.hosts,
      remote,
      makeDeployer: (runner) => {
        const d = new HostDeployer(runner, {
          healthTimeoutMs: (ctx.healthTimeoutS ?? 120) * 1000,
          lockOwner,
        });
        const deploy = d.deploy.bind(d);
        d.deploy = async (req) => {
          const result = await deploy(req);
          deploys.push({ stack: req.stack.def.name, host: req.host.name, result });
          return result;
        };
        return d;
      },
      ledger: ledger.ledger,
      actor: "bench",
      trigger: "cli",
      ...(ctx.concurrency ? { concurrency: ctx.concurrency } : {}),
      images: { plan: images, registries },
    });
    const t3 = performance.now();
    await stopProfile(profile);
    const cpuMs = processCpuMs() - cpu0;
    const machineCpuMs = machineBusyMs() - machine0;
    const connects = ctx.hosts.reduce((n, h) => n + pool.stats(h.name).connects, 0);
    await pool.close();
    const t4 = performance.now();
    return {
      wallMs: t3 - t0,
      stateMs: t1 - t0,
      planMs: t2 - t1,
      runMs: t3 - t2,
      closeMs: t4 - t3,
      plan,
      results,
      deploys,
      events: remote.events,
      calls: remote.calls,
      connects,
      runStart: t2 - t0,
      cpuMs,
      machineCpuMs,
      db: ledger.stats,
    };
  } finally {
    await pool.close();
  }
}

/** Throws unless every job of the run succeeded (or removed). */
export function expectAllSucceeded(run: ProductRun, what: string, expectedJobs?: number): void {
  const bad = run.results.filter((r) => r.status !== "succeeded" && r.status !== "removed");
  if (bad.length) {
    throw new Error(
      `${what}: ${bad.length} job(s) failed:\n${bad.map((r) => `  ${r.stack}@${r.host}: ${r.status} ${r.error ?? ""}`).join("\n")}`,
    );
  }
  if (expectedJobs !== undefined && run.results.length !== expectedJobs) {
    throw new Error(`${what}: expected ${expectedJobs} jobs, the plan had ${run.results.length}`);
  }
}
