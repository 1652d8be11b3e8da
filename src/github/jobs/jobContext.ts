/**
 * What every job needs: an installation Octokit, the repository's mirror at the wanted refs, and
 * the planner's inputs (hosts, deployed state). Built once per job by the worker.
 */
import { createAppAuth, type StrategyOptions } from "@octokit/auth-app";
import type { ProbotOctokit } from "probot";
import { type HostConfig, hostRefs, type RegistryConfig } from "../../config/hostsFile.ts";
import type { EngineOptions } from "../../deploy/hostDeploy.ts";
import type { RemoteExec } from "../../deploy/runner.ts";
import type { ParseLimits } from "../../detect/blobReader.ts";
import type { ParseCache } from "../../detect/snapshot.ts";
import { MirrorMountOpener } from "../../git/mountOpeners.ts";
import type { GitRepo } from "../../git/repo.ts";
import type { StackpilotMetrics } from "../../metrics/metrics.ts";
import type { Notifier } from "../../notify/notifier.ts";
import type { DeployedRecord, HostRef } from "../../plan/plan.ts";
import { resolvePlanMounts } from "../../plan/planMounts.ts";
import type { Planner } from "../../plan/planner.ts";
import type { PlanMounts } from "../../plan/planRange.ts";
import { type PlanRequest, type PlanResponse, runPlanRequest } from "../../plan/planRequest.ts";
import type { Store } from "../../state/store.ts";
import type { GithubJob, RepoRef } from "../events.ts";

export type Octokit = InstanceType<typeof ProbotOctokit>;

export interface Mirrors {
  ensure(
    repo: { cloneUrl: string; fullName: string },
    opts: { token?: string; refs?: string[] },
  ): Promise<GitRepo>;
}

/** Long-lived services the worker shares between jobs. */
export interface WorkerDeps {
  store: Store;
  mirrors: Mirrors;
  hosts: HostConfig[];
  /** Image registries from the hosts file (builders push there, deploy hosts pull). */
  registries?: RegistryConfig[];
  remote: RemoteExec;
  cache: ParseCache;
  /** The app's slug, for `@slug command` comments and its bot login `slug[bot]`. */
  appSlug: string;
  /** Identity written into host locks (see deploy/hostLock.ts). */
  installationId: string;
  engine?: Partial<EngineOptions>;
  botAllowlist?: string[];
  /** Plans off the main thread within a budget; without it, plans run in this thread. */
  planner?: Planner;
  /** Where procedure runs are queued (`/run`, `on: push`); without it, none are. */
  procedureQueue?: { send(runId: number): Promise<void> };
  /** The App's metrics (plan and deployment durations, results). */
  metrics?: StackpilotMetrics;
  /**
   * Queues a job (the durable queue: one job per repository a source push plans); without it, a
   * push to a source repository plans nothing else.
   */
  enqueue?(job: GithubJob, deliveryId: string): Promise<void>;
  /** Server-side bounds on the files planning reads (STACKPILOT_MAX_FILE_BYTES). */
  limits?: ParseLimits;
  /** Deploy results and rollbacks are told here (src/notify); without it, nowhere. */
  notifier?: Pick<Notifier, "emit">;
}

export interface JobContext {
  deps: WorkerDeps;
  octokit: Octokit;
  ref: RepoRef;
  owner: string;
  repo: string;
  /** The webhook delivery the job came from, named in errors users see. */
  delivery: string;
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

/** The mirror, fetched with the installation token (which never leaves the git child's environment). */
export async function mirrorAt(ctx: JobContext, refs: string[]): Promise<GitRepo> {
  return ctx.deps.mirrors.ensure(
    { cloneUrl: ctx.ref.cloneUrl, fullName: ctx.ref.fullName },
    { token: await installationToken(ctx.octokit), refs },
  );
}

/**
 * The installation token for git, from the GitHub this Octokit talks to. `octokit.auth({ type:
 * "installation" })` alone asks api.github.com whatever the Octokit's base URL (Probot gives
 * auth-app a request without one), so on GitHub Enterprise a job that found no cached token
 * failed. auth-app's `factory` hands over the strategy's options (app id, key, Probot's token
 * cache): the same auth with the Octokit's base URL, sharing that cache with every API call.
 */
export async function installationToken(octokit: Octokit): Promise<string> {
  const baseUrl = octokit.request.endpoint.DEFAULTS.baseUrl;
  const auth = (await octokit.auth({
    type: "installation",
    factory: (options: StrategyOptions) => {
      if (!options.request) throw new Error("the app's auth has no request to ask GitHub for a token with");
      return createAppAuth({ ...options, request: options.request.defaults({ baseUrl }) })({
        type: "installation",
      });
    },
  })) as { token: string };
  return auth.token;
}

export async function deployedState(ctx: JobContext): Promise<DeployedRecord[]> {
  return (await ctx.deps.store.getDeployed(ctx.ref.fullName)).map((d) => ({
    stack: d.stack,
    host: d.host,
    fingerprint: d.fingerprint,
    commit: d.commit,
    pinned: d.pinned,
  }));
}

export function inventory(ctx: JobContext): HostRef[] {
  return hostRefs(ctx.deps.hosts);
}

/** A job's plan, with the mounts (submodules, sources) its ends were planned with. */
export type PlannedWithImages = PlanResponse & { mounts: PlanMounts };

/**
 * The plan of a job: the range held against the default branch's rules, with the image plan
 * (builders, registries, reusable builds) every job's plan carries (plan/planRequest.ts); made by
 * the planner thread within its budget when the App has one (plan/planner.ts). Submodules and
 * sources are fetched here first, with the installation token, so the thread only reads mirrors.
 */
export async function planJob(
  ctx: JobContext,
  repo: GitRepo,
  opts: Omit<PlanRequest["range"], "mounts"> & { pulls?: boolean },
): Promise<PlannedWithImages> {
  const { pulls, ...range } = opts;
  const mounts = await jobMounts(ctx, repo, range);
  const request: PlanRequest = {
    repoDir: repo.dir,
    defaultBranch: ctx.ref.defaultBranch,
    range: { ...range, mounts },
    hosts: inventory(ctx),
    deployed: await deployedState(ctx),
    stopped: await ctx.deps.store.listStopped(ctx.ref.fullName),
    inventory: { hosts: ctx.deps.hosts, registries: ctx.deps.registries ?? [] },
    repoId: ctx.ref.fullName,
    builds: await ctx.deps.store.listReusableBuilds(ctx.ref.fullName),
    pulls: pulls ?? true,
    ...(ctx.deps.limits ? { limits: ctx.deps.limits } : {}),
  };
  const plan = () =>
    ctx.deps.planner ? ctx.deps.planner.plan(request) : runPlanRequest(repo, request, ctx.deps.cache);
  const planned = await (ctx.deps.metrics ? ctx.deps.metrics.timePlan(plan) : plan());
  return { ...planned, mounts };
}

/**
 * The submodules and sources of both ends, in mirrors of their own fetched from the configured
 * GitHub (the planned repository's origin) with this installation's token; a source at the base
 * is the commit the default branch's last plan read (state/sources.ts).
 */
async function jobMounts(
  ctx: JobContext,
  repo: GitRepo,
  range: { base?: string; head: string; defaultBranch?: string },
): Promise<PlanMounts> {
  const opener = new MirrorMountOpener(ctx.deps.mirrors, {
    token: () => installationToken(ctx.octokit),
    origin: new URL(ctx.ref.cloneUrl).origin,
  });
  return resolvePlanMounts(repo, range, opener, {
    url: ctx.ref.cloneUrl,
    baseSources: await ctx.deps.store.sourceCommits(ctx.ref.fullName),
    mergeBases: ctx.deps.cache.mergeBases,
  });
}
