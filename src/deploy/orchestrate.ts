/**
 * Run a plan's deploys and removals across hosts: bounded parallelism (per host and overall),
 * one (stack, host) at a time under a database lock, every command recorded with its deployment,
 * and a failure on one host never stopping the others.
 */
import picomatch from "picomatch";
import type { HostConfig } from "../config/hostsFile.ts";
import { buildSnapshot, type ParseCache, type Snapshot, type StackSnapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import type { Plan } from "../plan/plan.ts";
import { type DeployTarget, type DeployTrigger, deployLockKey } from "../state/deployments.ts";
import type { Store } from "../state/store.ts";
import { Limiter } from "../util/limiter.ts";
import { type ComposeFlavor, composeV1OnPath, composeVersion } from "./commands/compose.ts";
import { errorText, type HostDeployer, type HostTarget } from "./hostDeploy.ts";
import { type CommandRecord, type RemoteExec, Runner } from "./runner.ts";

/** What the orchestrator needs from the state store. */
export type DeployLedger = Pick<
  Store,
  | "createDeployment"
  | "startDeployment"
  | "finishDeployment"
  | "appendCommandLog"
  | "setDeployed"
  | "withLock"
> & { removeDeployed?(target: DeployTarget): Promise<void> };

/** Explicit deploys clear a rollback pin; automatic ones never reach a pinned host (the plan skips it). */
const EXPLICIT: ReadonlySet<DeployTrigger> = new Set(["cli", "command"]);

export interface HostJobResult {
  stack: string;
  host: string;
  action: "deploy" | "remove";
  status: "succeeded" | "failed" | "rolled_back" | "removed";
  deploymentId?: number;
  error?: string;
  durationMs: number;
  uploadBytes?: number;
}

export type ProgressEvent =
  | { type: "start"; stack: string; host: string; action: "deploy" | "remove" }
  | { type: "done"; result: HostJobResult };

export interface OrchestrateInput {
  repo: GitRepo;
  /** Repository identity in the ledger (e.g. `owner/name`, or the checkout path for the CLI). */
  repoId: string;
  plan: Plan;
  head: Snapshot;
  hosts: readonly HostConfig[];
  remote: RemoteExec;
  makeDeployer: (runner: Runner) => HostDeployer;
  ledger: DeployLedger;
  actor: string;
  trigger: DeployTrigger;
  cache: ParseCache;
  /** Deployed commit per (stack, host), to decide which images changed. */
  deployedCommits: ReadonlyMap<string, string>;
  concurrency?: { total?: number; perHost?: number };
  redact?: (text: string) => string;
  onProgress?: (e: ProgressEvent) => void;
  /** Database lock ttl; heartbeats renew it every third of that while the deploy runs. */
  lockTtlMs?: number;
}

/** Short, so that a deployer that died is noticed (and its deployment recovered) within a minute. */
export const DB_LOCK_TTL_MS = 60_000;

/**
 * Jobs in flight: overall as many as the SSH pool has channels by default (16), so that one
 * changed stack reaches a fleet of that size at once instead of in waves (with 8, the 9th host
 * started only when a whole deploy had finished: twice the wall time); per host 2.
 */
export const DEFAULT_CONCURRENCY = { total: 16, perHost: 2 } as const;

export async function runPlan(input: OrchestrateInput): Promise<HostJobResult[]> {
  const hostsByName = new Map(input.hosts.map((h) => [h.name, h]));
  const jobs = input.plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.action !== "skip")
      .map((t) => ({ stack: s.name, host: t.host, action: t.action as "deploy" | "remove" })),
  );
  const flavors = new Map<string, Promise<ComposeFlavor>>();
  const previousSnapshots = new Map<string, Promise<Snapshot | undefined>>();
  const total = new Limiter(input.concurrency?.total ?? DEFAULT_CONCURRENCY.total);
  const perHost = new Map<string, Limiter>();

  const runJob = async (job: (typeof jobs)[number]): Promise<HostJobResult> => {
    const t0 = performance.now();
    const config = hostsByName.get(job.host);
    const done = (r: Omit<HostJobResult, "durationMs" | "stack" | "host" | "action">): HostJobResult => {
      const result = {
        stack: job.stack,
        host: job.host,
        action: job.action,
        durationMs: Math.round(performance.now() - t0),
        ...r,
      };
      input.onProgress?.({ type: "done", result });
      return result;
    };
    input.onProgress?.({ type: "start", ...job });
    if (!config) return done({ status: "failed", error: `host "${job.host}" is not in the hosts file` });
    if (!repoAllowed(config, input.repoId)) {
      return done({
        status: "failed",
        error: `${job.host} does not accept deploys from ${input.repoId} (hosts file: repos)`,
      });
    }

    const stack = input.head.stacks.get(job.stack);
    const deploymentId = await input.ledger.createDeployment({
      repo: input.repoId,
      stack: job.stack,
      host: job.host,
      commit: input.head.commit,
      fingerprint: stack?.fingerprint ?? "removed",
      actor: input.actor,
      trigger: input.trigger,
    });
    const logs: Promise<unknown>[] = [];
    const runner = new Runner(input.remote, {
      ...(input.redact ? { redact: input.redact } : {}),
      onRecord: (r: CommandRecord) => {
        logs.push(
          input.ledger.appendCommandLog(deploymentId, {
            command: r.line,
            code: r.code,
            output: `${r.stdout}${r.stderr}`,
          }),
        );
      },
    });
    const deployer = input.makeDeployer(runner);
    const key = deployLockKey({ repo: input.repoId, stack: job.stack, host: job.host });
    try {
      return await input.ledger.withLock(
        key,
        `${input.actor} (${input.trigger})`,
        input.lockTtlMs ?? DB_LOCK_TTL_MS,
        async () => {
          await input.ledger.startDeployment(deploymentId);
          const flavor = await memo(flavors, job.host, () => detectCompose(runner, config));
          const target = hostTarget(config, flavor);
          if (job.action === "remove" || !stack) {
            await deployer.remove(target, job.stack, input.actor);
            await input.ledger.removeDeployed?.({ repo: input.repoId, stack: job.stack, host: job.host });
            await input.ledger.finishDeployment(deploymentId, { status: "succeeded" });
            return done({ status: "removed", deploymentId });
          }
          const previousCommit = input.deployedCommits.get(`${job.stack}\0${job.host}`);
          const previous = previousCommit
            ? await memo(previousSnapshots, previousCommit, () =>
                snapshotAt(input.repo, previousCommit, input.cache),
              )
            : undefined;
          const result = await deployer.deploy({
            repoDir: input.repo.dir,
            commit: input.head.commit,
            stack,
            host: target,
            holder: `${input.actor} (${input.trigger})`,
            pullServices: changedImages(stack, previous?.stacks.get(job.stack)),
          });
          await Promise.all(logs);
          if (result.failureLogs) {
            await input.ledger.appendCommandLog(deploymentId, {
              command: "(compose logs of the failed release)",
              code: null,
              output: result.failureLogs,
            });
          }
          if (result.status === "succeeded") {
            await input.ledger.setDeployed({
              repo: input.repoId,
              stack: job.stack,
              host: job.host,
              fingerprint: stack.fingerprint,
              commit: input.head.commit,
              release: result.release,
              deploymentId,
              ...(EXPLICIT.has(input.trigger) ? { pinned: false } : {}),
            });
          }
          await input.ledger.finishDeployment(deploymentId, {
            status: result.status,
            error: result.error ?? null,
            timings: result.timings,
            release: result.release,
          });
          return done({
            status: result.status,
            deploymentId,
            uploadBytes: result.uploadBytes,
            ...(result.error ? { error: result.error } : {}),
          });
        },
      );
    } catch (err) {
      await Promise.allSettled(logs);
      const error = errorText(err);
      await input.ledger.finishDeployment(deploymentId, { status: "failed", error }).catch(() => {});
      return done({ status: "failed", deploymentId, error });
    }
  };

  return Promise.all(
    jobs.map((job) => {
      const hostLimit =
        perHost.get(job.host) ?? new Limiter(input.concurrency?.perHost ?? DEFAULT_CONCURRENCY.perHost);
      perHost.set(job.host, hostLimit);
      return total.run(() => hostLimit.run(() => runJob(job)));
    }),
  );
}

/** A host's `repos` globs (owner/name or URL) restrict who may deploy to it; empty allows all. */
export function repoAllowed(host: HostConfig, repoId: string): boolean {
  return host.repos.length === 0 || picomatch(host.repos)(repoId);
}

/**
 * `auto`: `docker compose` (v2) when it answers, else `docker-compose` (v1) when it is on the PATH
 * (not run: a v1 that is installed but broken fails at `up`, with its own error).
 */
export async function detectCompose(runner: Runner, host: HostConfig): Promise<ComposeFlavor> {
  if (host.compose === "docker compose") return "v2";
  if (host.compose === "docker-compose") return "v1";
  if ((await runner.run(host.name, composeVersion("v2"), { allowFailure: true })).code === 0) return "v2";
  if ((await runner.run(host.name, composeV1OnPath(), { allowFailure: true })).code === 0) return "v1";
  throw new Error(
    `${host.name}: \`docker compose\` does not answer and \`docker-compose\` is not on the PATH there`,
  );
}

export function hostTarget(h: HostConfig, compose: ComposeFlavor): HostTarget {
  return { name: h.name, root: h.root, compose, allowedMountRoots: h.allowed_mount_roots };
}

/**
 * Services whose image reference changed since the deployed release: those get an explicit
 * `compose pull`. A first deploy pulls nothing explicitly: `up` pulls images that are missing.
 */
export function changedImages(next: StackSnapshot, previous: StackSnapshot | undefined): string[] {
  if (!previous) return [];
  const before = new Map(previous.compose.services.map((s) => [s.name, s.image]));
  return next.compose.services
    .filter((s) => s.image && !s.build && before.get(s.name) !== s.image)
    .map((s) => s.name);
}

async function snapshotAt(repo: GitRepo, commit: string, cache: ParseCache): Promise<Snapshot | undefined> {
  if (!(await repo.resolveCommit(commit))) return undefined;
  return buildSnapshot(repo, commit, await repo.lsTree(commit), cache);
}

function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  const p = map.get(key) ?? make();
  map.set(key, p);
  return p;
}
