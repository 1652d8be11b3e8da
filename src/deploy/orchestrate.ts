/**
 * Run a plan's deploys and removals across hosts: bounded parallelism (per host and overall),
 * one (stack, host) at a time under a database lock, every command recorded with its deployment,
 * and a failure on one host never stopping the others.
 */
import { type HostConfig, type RegistryConfig, repoAllowed } from "../config/hostsFile.ts";
import { readSecret, type SecretRef } from "../config/secretRef.ts";
import { buildSnapshot, type ParseCache, type Snapshot, type StackSnapshot } from "../detect/snapshot.ts";
import type { GitRepo } from "../git/repo.ts";
import {
  credentialsOf,
  type ImageBuild,
  type ImagePlan,
  imageHome,
  type TargetImageOps,
} from "../plan/images.ts";
import type { Plan } from "../plan/plan.ts";
import { type DeployTarget, type DeployTrigger, deployLockKey } from "../state/deployments.ts";
import { type LockWait, withLockWaiting } from "../state/locks.ts";
import type { Store } from "../state/store.ts";
import { Limiter } from "../util/limiter.ts";
import { buildImage, imagePreflight, type Login } from "./build.ts";
import { type ComposeFlavor, composeFlavorProbe } from "./commands/compose.ts";
import { DeployRefused, errorText, type HostDeployer, type HostTarget } from "./hostDeploy.ts";
import { type CommandRecord, type RemoteExec, Runner, redactor } from "./runner.ts";

/** What the orchestrator needs from the state store. */
export type DeployLedger = Pick<
  Store,
  | "createDeployment"
  | "startDeployment"
  | "finishDeployment"
  | "appendCommandLog"
  | "setDeployed"
  | "withLock"
> &
  Partial<Pick<Store, "startBuild" | "finishBuild" | "supersedeIfStale">> & {
    removeDeployed?(target: DeployTarget): Promise<void>;
  };

/** Explicit deploys clear a rollback pin; automatic ones never reach a pinned host (the plan skips it). */
const EXPLICIT: ReadonlySet<DeployTrigger> = new Set(["cli", "command"]);

export interface HostJobResult {
  stack: string;
  host: string;
  action: "deploy" | "remove";
  /** `superseded`: a newer deployment of the same (stack, host) was queued while this one waited. */
  status: "succeeded" | "failed" | "rolled_back" | "removed" | "superseded";
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
  /** Builds and per-target image operations (plan/images.ts); required for stacks with `build:`. */
  images?: ImagesInput;
  /** How a target busy with another deploy is waited for (default TARGET_WAIT). */
  targetWait?: LockWait;
  /** The App rollout these deployments belong to. */
  rolloutId?: number;
}

export interface ImagesInput {
  plan: ImagePlan;
  registries: readonly RegistryConfig[];
  /** Reads registry passwords (injectable for tests); the values only ever go to stdin. */
  readSecret?: (ref: SecretRef, what: string) => Promise<string>;
}

/**
 * Short, so that a deployer that died is noticed (and its deployment recovered) well within a
 * minute; heartbeats renew it every third of it.
 */
export const DB_LOCK_TTL_MS = 30_000;

/**
 * A target busy with another deploy is waited for (polling its lock), up to this long; meanwhile,
 * or once the lock is ours, a newer deployment queued for the same target supersedes this one.
 */
export const TARGET_WAIT: LockWait = { pollMs: 1_000, maxMs: 15 * 60_000 };

/** Who holds locks and releases: the actor and why, e.g. `alice (command)`. */
const holderOf = (input: Pick<OrchestrateInput, "actor" | "trigger">) => `${input.actor} (${input.trigger})`;

/** Results that are not failures: deployed, removed, or handed over to a newer deployment. */
export const isSuccess = (r: Pick<HostJobResult, "status">): boolean =>
  r.status === "succeeded" || r.status === "removed" || r.status === "superseded";

/**
 * Jobs in flight: overall as many as the SSH pool has channels by default (16), so that one
 * changed stack reaches a fleet of that size at once instead of in waves (with 8, the 9th host
 * started only when a whole deploy had finished: twice the wall time); per host 2.
 */
export const DEFAULT_CONCURRENCY = { total: 16, perHost: 2 } as const;

export async function runPlan(input: OrchestrateInput): Promise<HostJobResult[]> {
  const hostsByName = new Map(input.hosts.map((h) => [h.name, h]));
  const images = imageSupport(input, hostsByName);
  const jobs = input.plan.stacks.flatMap((s) =>
    s.targets
      .filter((t) => t.action !== "skip")
      .map((t) => ({ stack: s.name, host: t.host, action: t.action as "deploy" | "remove" })),
  );
  const flavors = new Map<string, Promise<ComposeFlavor>>();
  const previousSnapshots = new Map<string, Promise<Snapshot | undefined>>();
  const total = new Limiter(input.concurrency?.total ?? DEFAULT_CONCURRENCY.total);
  const perHost = new Map<string, Limiter>();

  const runJob = async (job: (typeof jobs)[number], buildError?: string): Promise<HostJobResult> => {
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
      ...(input.rolloutId !== undefined ? { rolloutId: input.rolloutId } : {}),
    });
    const logs: Promise<unknown>[] = [];
    const runner = new Runner(input.remote, {
      redact: images.redact,
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
    const superseded = async () => {
      if (!(await input.ledger.supersedeIfStale?.(deploymentId))) return undefined;
      await Promise.all(logs);
      return done({
        status: "superseded",
        deploymentId,
        error: "a newer deployment of this target was queued",
      });
    };
    try {
      return await waitForTarget(input, key, superseded, async (signal) => {
        const newer = await superseded();
        if (newer) return newer;
        await input.ledger.startDeployment(deploymentId);
        const flavor = await memo(flavors, job.host, () => detectCompose(runner, config));
        const target = hostTarget(config, flavor);
        if (job.action === "remove" || !stack) {
          await deployer.remove(target, job.stack, input.actor, signal);
          await input.ledger.removeDeployed?.({ repo: input.repoId, stack: job.stack, host: job.host });
          await input.ledger.finishDeployment(deploymentId, { status: "succeeded" });
          return done({ status: "removed", deploymentId });
        }
        const ops = images.opsOf(job.stack, job.host);
        if (ops === "missing") {
          throw new DeployRefused(
            `${job.stack} builds images, but this deploy has no image plan: a deploy host never builds (see the hosts file's builder and registries)`,
          );
        }
        if (ops) {
          if (buildError) throw new DeployRefused(buildError);
          await imagePreflight(runner, job.host, await images.loginsOf(job.host, ops.login), ops.pull);
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
          holder: holderOf(input),
          pullServices: changedImages(stack, previous?.stacks.get(job.stack)),
          ...(ops ? { images: ops.images } : {}),
          signal,
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
      });
    } catch (err) {
      await Promise.allSettled(logs);
      const error = errorText(err);
      await input.ledger.finishDeployment(deploymentId, { status: "failed", error }).catch(() => {});
      return done({ status: "failed", deploymentId, error });
    }
  };

  const limited = <T>(host: string, fn: () => Promise<T>): Promise<T> => {
    const hostLimit =
      perHost.get(host) ?? new Limiter(input.concurrency?.perHost ?? DEFAULT_CONCURRENCY.perHost);
    perHost.set(host, hostLimit);
    return total.run(() => hostLimit.run(fn));
  };
  // Each stack's builds start at once; its deploys wait for them (outside the limiters, so a
  // waiting deploy never holds a slot a build needs), other stacks' deploys do not wait.
  const builds = new Map<string, Promise<string | undefined>>();
  const deploying = new Set(jobs.filter((j) => j.action === "deploy").map((j) => j.stack));
  for (const b of input.images?.plan.builds ?? []) {
    if (b.reuse || !deploying.has(b.stack)) continue;
    const earlier = builds.get(b.stack) ?? Promise.resolve(undefined);
    const run = limited(b.builder, () => images.build(b));
    builds.set(
      b.stack,
      Promise.all([earlier, run]).then(([e, r]) => e ?? r),
    );
  }
  return Promise.all(
    jobs.map(async (job) => {
      const buildError = await builds.get(job.stack);
      return limited(job.host, () => runJob(job, buildError));
    }),
  );
}

/**
 * Runs `fn` under the target's database lock. A lock held by another deploy is waited for; while
 * waiting, `superseded` (a newer deployment of the target was queued) ends the wait with its
 * result. Deploys of one target so run one at a time, and of several waiting, only the newest.
 */
async function waitForTarget(
  input: OrchestrateInput,
  key: string,
  superseded: () => Promise<HostJobResult | undefined>,
  fn: (signal: AbortSignal) => Promise<HostJobResult>,
): Promise<HostJobResult> {
  return withLockWaiting(
    input.ledger,
    {
      key,
      holder: holderOf(input),
      ttlMs: input.lockTtlMs ?? DB_LOCK_TTL_MS,
      wait: input.targetWait ?? TARGET_WAIT,
    },
    fn,
    superseded,
  );
}

/**
 * What runPlan needs for images: the per-target operations, logins with their passwords read once
 * (and redacted from every recorded output), and one build on its builder, recorded with its log.
 * A build's failure is returned as the text its stack's deploys fail with.
 */
function imageSupport(input: OrchestrateInput, hostsByName: ReadonlyMap<string, HostConfig>) {
  const plan = input.images?.plan;
  const registries = new Map((input.images?.registries ?? []).map((r) => [r.name, r]));
  const targets = new Map((plan?.targets ?? []).map((t) => [`${t.stack}\0${t.host}`, t]));
  const secrets: string[] = [];
  const hide = redactor(secrets);
  const redact = (text: string) => hide(input.redact ? input.redact(text) : text);
  const passwords = new Map<string, Promise<string>>();
  const read = input.images?.readSecret ?? readSecret;

  const loginOf = async (registryName: string, host: string): Promise<Login | undefined> => {
    const registry = registries.get(registryName);
    if (!registry) throw new DeployRefused(`registry "${registryName}" is not in the hosts file`);
    const creds = credentialsOf(registry, hostsByName.get(host));
    if (!creds) return undefined;
    const key = JSON.stringify(creds.password);
    const password = await memo(passwords, key, async () => {
      const value = await read(creds.password, `password of registry ${registry.name} for ${host}`);
      secrets.push(value);
      return value;
    });
    return { registry: registry.name, address: registry.address, username: creds.username, password };
  };

  return {
    redact,
    /** undefined: the stack builds nothing here; "missing": it builds but no image plan covers it. */
    opsOf(stack: string, host: string): TargetImageOps | "missing" | undefined {
      const ops = targets.get(`${stack}\0${host}`);
      if (ops) return ops;
      const snap = input.head.stacks.get(stack);
      return snap?.compose?.services.some((s) => s.build) ? "missing" : undefined;
    },
    async loginsOf(host: string, names: readonly string[]): Promise<Login[]> {
      const all = await Promise.all(names.map((n) => loginOf(n, host)));
      return all.filter((l): l is Login => l !== undefined);
    },
    async build(b: ImageBuild): Promise<string | undefined> {
      const builder = hostsByName.get(b.builder);
      const log: string[] = [];
      const runner = new Runner(input.remote, {
        redact,
        onRecord: (r) =>
          log.push(`$ ${r.line}\n${r.stdout}${r.stderr}${r.code === 0 ? "" : `(exit ${r.code})\n`}`),
      });
      const id = await input.ledger.startBuild?.({
        repo: input.repoId,
        stack: b.stack,
        service: b.service,
        registry: imageHome(b.registry, b.builder),
        builder: b.builder,
        fingerprint: b.fingerprint,
        image: b.image,
        commit: input.head.commit,
        actor: input.actor,
      });
      try {
        if (!builder) throw new DeployRefused(`builder "${b.builder}" is not in the hosts file`);
        await input.ledger.withLock(
          `build:${input.repoId}:${b.image}`,
          holderOf(input),
          input.lockTtlMs ?? DB_LOCK_TTL_MS,
          async () => {
            const login = b.registry ? await loginOf(b.registry, b.builder) : undefined;
            await buildImage(runner, {
              repoDir: input.repo.dir,
              commit: input.head.commit,
              build: b,
              root: builder.root,
              ...(b.registry ? { push: login ? { login } : {} } : {}),
            });
          },
        );
        if (id !== undefined)
          await input.ledger.finishBuild?.(id, { status: "succeeded", log: log.join("") });
        return undefined;
      } catch (err) {
        const error = `image ${b.stack}/${b.service} (built on ${b.builder}): ${errorText(err)}`;
        if (id !== undefined)
          await input.ledger
            .finishBuild?.(id, { status: "failed", error, log: log.join("") })
            .catch(() => {});
        return error;
      }
    },
  };
}

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
