/**
 * Deploy one stack to one host, the heart of the engine:
 * 1. lock (stack, host) on the host, 2. upload exactly the stack's files into a new release,
 * 3. switch `current` atomically, 4. pull changed images and `compose up`, 5. wait for health,
 * 6. on failure switch back and bring the previous release up again, 7. prune old releases.
 * With hooks (hookSteps.ts): `post_sync` after the upload and `pre_deploy` before `up`, both
 * before the switch (upload and switch are then two steps: a failing hook leaves `current`
 * alone); `post_deploy` once healthy (a failure rolls back); `on_failure` after a failure.
 * Steps 4-6 are releaseActivation.ts's.
 * Every remote command is a pure argv from commands/, executed by the Runner. Commands that change
 * the target run fenced by the host lock's nonce (hostLock.ts), and each such step first checks
 * the caller's signal: a deploy whose database lock was lost stops before its next change.
 */
import type { StackSnapshot } from "../detect/snapshot.ts";
import type { ExpectedContainers } from "../state/deployed.ts";
import { stepTimer } from "../util/timings.ts";
import { type ComposeFlavor, composeDown, composePull } from "./commands/compose.ts";
import { type StackPaths, stackPaths } from "./commands/paths.ts";
import { listReleases, pruneReleases, readCurrent, removeTree } from "./commands/release.ts";
import { HookFailed, type HookJournal, type HookRun, HookRunner, hookEnvironment } from "./hookSteps.ts";
import { acquireHostLock, type HeldLock, releaseOfLink } from "./hostLock.ts";
import { projectOf, type ReleaseManifest, releaseIdOf } from "./release.ts";
import { type Activator, activateRelease, reactivateRelease } from "./releaseActivation.ts";
import { checkComposeFeatures, checkMounts, manifestOf } from "./releasePreflight.ts";
import { readManifest, releaseFingerprint } from "./releaseReads.ts";
import { uploadReleaseTo } from "./releaseUpload.ts";
import { RemoteCommandError, type RemoteExecOptions, type Runner } from "./runner.ts";
import type { Argv } from "./shell.ts";

export interface HostTarget {
  name: string;
  root: string;
  compose: ComposeFlavor;
  /** Absolute host paths compose files may bind-mount. */
  allowedMountRoots: readonly string[];
}

export interface EngineOptions {
  healthTimeoutMs: number;
  healthPollMs: number;
  lockTtlMs: number;
  keepReleases: number;
  /**
   * Installation id written into host locks. Only set it where the caller holds the database
   * lock of the (stack, host): then a host lock with the same owner is a dead attempt's leftover.
   */
  lockOwner?: string;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  healthTimeoutMs: 120_000,
  healthPollMs: 1_000,
  // Heartbeated every third of it: a holder that stopped is noticed within a minute.
  lockTtlMs: 60_000,
  keepReleases: 5,
};

export interface DeployRequest {
  repoDir: string;
  commit: string;
  stack: StackSnapshot;
  host: HostTarget;
  /** Who and why, for the lock details and the manifest. */
  holder: string;
  /** Services whose image reference changed since the deployed release: pulled before `up`. */
  pullServices: readonly string[];
  /** service -> image a builder made (already pulled by the preflight): replaces `build:` here. */
  images?: Readonly<Record<string, string>>;
  /** Aborted when the caller loses its database lock of the target: no further change is made. */
  signal?: AbortSignal;
  /** Who and why, for the hooks' environment (default: `holder`, no trigger, no deployment id). */
  origin?: { actor: string; trigger: string; deploymentId?: number };
  /** Where hook attempts are recorded (the state store), if anywhere. */
  hookJournal?: HookJournal;
}

export type DeployStatus = "succeeded" | "failed" | "rolled_back";

export interface DeployResult {
  status: DeployStatus;
  release: string;
  previousRelease?: string;
  error?: string;
  /** `compose logs` of the failed release, when it failed after `up`. */
  failureLogs?: string;
  uploadBytes: number;
  timings: Record<string, number>;
  /** Every hook attempt made, in order (absent when the stack has no hooks). */
  hooks?: HookRun[];
  /** Hooks that failed without being required. */
  warnings?: string[];
  /** What the release runs once healthy (succeeded only), for drift detection to compare with. */
  expected?: ExpectedContainers;
}

export class DeployRefused extends Error {
  override name = "DeployRefused";
}

export class HostDeployer {
  readonly #runner: Runner;
  readonly #opts: EngineOptions;

  constructor(runner: Runner, opts: Partial<EngineOptions> = {}) {
    this.#runner = runner;
    this.#opts = { ...DEFAULT_ENGINE_OPTIONS, ...opts };
  }

  #activator(): Activator {
    return { runner: this.#runner, opts: this.#opts };
  }

  #who(holder: string, commit: string) {
    return { holder, commit, ...(this.#opts.lockOwner ? { owner: this.#opts.lockOwner } : {}) };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { host, stack, signal } = req;
    checkMounts(stack, host);
    checkComposeFeatures(stack, host);
    const paths = stackPaths(host.root, stack.def.name);
    const timer = stepTimer();

    signal?.throwIfAborted();
    const lock = await timer.time("lock", () =>
      acquireHostLock(
        this.#runner,
        host.name,
        stack.def.name,
        paths,
        this.#who(req.holder, req.commit),
        this.#opts.lockTtlMs,
        signal ? { signal } : {},
      ),
    );
    try {
      return await this.#deployLocked(req, paths, lock, timer);
    } finally {
      await lock.release();
    }
  }

  /**
   * Under the host lock: 1. upload (and switch, unless a hook runs first), 2. `post_sync`, then
   * `pre_deploy` (a failure ends the deploy with `current` untouched), 3. switch and `up`,
   * health, `post_deploy` (a failure rolls back), 4. prune.
   */
  async #deployLocked(
    req: DeployRequest,
    paths: StackPaths,
    lock: HeldLock,
    { timings, time }: ReturnType<typeof stepTimer>,
  ): Promise<DeployResult> {
    const { host, stack, signal } = req;
    const step = this.#stepper(host.name, lock, signal);
    // Which release runs now was read with the lock, in the same round trip.
    const previous = lock.current;
    const release = releaseIdOf(req.commit, stack);
    const releaseDir = paths.release(release);
    const manifest = manifestOf(req);
    const hooks = new HookRunner(
      stack.def.hooks,
      hookEnvironment(req, previous, releaseDir),
      step,
      req.hookJournal,
      signal,
    );
    const at: Attempt = { req, paths, lock, step, previous, release, releaseDir, manifest, hooks, time };
    // A redeploy of the release that runs, unchanged, is not uploaded again: replacing its
    // directory under running containers would empty their bind mounts.
    const inPlace =
      previous === release &&
      (await releaseFingerprint(this.#runner, host.name, releaseDir)) === stack.fingerprint;
    // With a hook before the switch, the upload leaves `current` alone and `up` switches first.
    const switchLater = !inPlace && hooks.beforeSwitch();
    const uploaded = { bytes: 0 };
    const result = (status: DeployStatus, extra: Partial<DeployResult> = {}): DeployResult => ({
      status,
      release,
      ...(previous ? { previousRelease: previous } : {}),
      uploadBytes: uploaded.bytes,
      timings,
      ...(hooks.runs.length ? { hooks: hooks.runs } : {}),
      ...(hooks.warnings.length ? { warnings: hooks.warnings } : {}),
      ...extra,
    });
    const refused = await this.#prepare(at, { inPlace, switchLater }, uploaded);
    if (refused !== undefined) return result("failed", { error: refused });
    const activated = await activateRelease(this.#activator(), at, switchLater);
    if ("failed" in activated) return result(activated.failed.status, activated.failed);
    // The last command and the unlock in one round trip (`deploy`'s `finally` then has nothing to do).
    signal?.throwIfAborted();
    await time("prune", () => lock.releaseAfter(pruneReleases(paths, this.#opts.keepReleases, release)));
    return result("succeeded", { expected: activated.expected });
  }

  /**
   * Everything before `current` switches: upload, `post_sync`, pulls (when the switch waits),
   * `pre_deploy`. A required hook failing ends the deploy here: the error (the never-activated
   * release is removed); anything else is thrown.
   */
  async #prepare(
    at: Attempt,
    how: { inPlace: boolean; switchLater: boolean },
    uploaded: { bytes: number },
  ): Promise<string | undefined> {
    const { req, hooks, time, step } = at;
    try {
      if (!how.inPlace)
        uploaded.bytes = await time(how.switchLater ? "upload" : "upload+switch", () =>
          uploadReleaseTo(this.#runner, req, at, { switch: !how.switchLater }),
        );
      // Nothing was synced to a release that runs unchanged.
      if (!how.inPlace) await timedHook(at, "post_sync");
      if (how.switchLater && req.pullServices.length)
        await step(composePull(projectOf(at.manifest, at.releaseDir, req.host.compose), req.pullServices));
      await timedHook(at, "pre_deploy");
      return undefined;
    } catch (err) {
      if (!(err instanceof HookFailed)) throw err;
      // A deploy that lost its lock changes nothing more: the target is someone else's now.
      req.signal?.throwIfAborted();
      const error = `${err.message}${await hooks.onFailure()}`;
      // Never activated: rollbacks must not take it for the release that ran before.
      if (how.switchLater && at.previous !== at.release)
        await step(removeTree(at.releaseDir), { allowFailure: true });
      return error;
    }
  }

  /**
   * Runs a command that changes the target: after checking the caller still holds its database
   * lock, and fenced by the host lock (commands/lock.ts), so neither a deploy that lost its
   * database lock nor one whose host lock was broken acts on the target any more.
   */
  #stepper(host: string, lock: HeldLock, signal: AbortSignal | undefined): Step {
    return (argv, opts = {}) => {
      signal?.throwIfAborted();
      return this.#runner.run(host, lock.fence(argv), opts);
    };
  }

  /** Re-activate a retained release (the previous one, or `to`) without uploading or building. */
  async rollback(
    host: HostTarget,
    stack: string,
    holder: string,
    to?: string,
    signal?: AbortSignal,
  ): Promise<{ from?: string; to: string; manifest: ReleaseManifest; expected: ExpectedContainers }> {
    const paths = stackPaths(host.root, stack);
    const lock = await acquireHostLock(
      this.#runner,
      host.name,
      stack,
      paths,
      this.#who(holder, to ?? "rollback"),
      this.#opts.lockTtlMs,
      signal ? { signal } : {},
    );
    const step = this.#stepper(host.name, lock, signal);
    try {
      const current = lock.current;
      const releases = (await this.releases(host.name, paths)).filter((r) => r !== current);
      const target = to ? releases.find((r) => r === to || r.startsWith(to)) : releases[0];
      if (!target) {
        throw new DeployRefused(
          to
            ? `no retained release of ${stack} on ${host.name} matches ${to} (have: ${releases.map((r) => r.slice(0, 7)).join(", ") || "none"})`
            : `no earlier release of ${stack} on ${host.name} to roll back to`,
        );
      }
      const { manifest, expected } = await reactivateRelease(this.#activator(), host, paths, target, step);
      return { ...(current ? { from: current } : {}), to: target, manifest, expected };
    } finally {
      await lock.release();
    }
  }

  /** `compose down` and delete the stack's directory (prune of a deleted stack). */
  async remove(host: HostTarget, stack: string, holder: string, signal?: AbortSignal): Promise<void> {
    const paths = stackPaths(host.root, stack);
    const current = await this.currentRelease(host.name, paths);
    if (!current) return;
    const lock = await acquireHostLock(
      this.#runner,
      host.name,
      stack,
      paths,
      this.#who(holder, current),
      this.#opts.lockTtlMs,
      signal ? { signal } : {},
    );
    const step = this.#stepper(host.name, lock, signal);
    try {
      const manifest = await readManifest(this.#runner, host.name, paths.release(current));
      await step(composeDown(projectOf(manifest, paths.release(current), host.compose)));
      await step(removeTree(paths.releasesDir));
      await step(removeTree(paths.current));
    } finally {
      await lock.release();
    }
  }

  async currentRelease(host: string, paths: StackPaths): Promise<string | undefined> {
    const rec = await this.#runner.run(host, readCurrent(paths), { allowFailure: true });
    return rec.code === 0 ? releaseOfLink(rec.stdout) : undefined;
  }

  async releases(host: string, paths: StackPaths): Promise<string[]> {
    const rec = await this.#runner.run(host, listReleases(paths), { allowFailure: true });
    return rec.code === 0 ? rec.stdout.split("\n").filter((l) => l && !l.startsWith(".")) : [];
  }
}

/** One deploy under its host lock: what its steps share. */
export interface Attempt {
  req: DeployRequest;
  paths: StackPaths;
  lock: HeldLock;
  step: Step;
  /** The release `current` named when the lock was taken. */
  previous: string | undefined;
  release: string;
  releaseDir: string;
  manifest: ReleaseManifest;
  hooks: HookRunner;
  time: ReturnType<typeof stepTimer>["time"];
}

/** The hook, timed as a step of its own, when the stack has it. */
export const timedHook = (at: Attempt, name: "post_sync" | "pre_deploy" | "post_deploy") =>
  at.hooks.has(name) ? at.time(name, () => at.hooks.run(name)) : Promise.resolve();

/** A command that changes the target (HostDeployer `#stepper`). */
export type Step = (
  argv: Argv,
  opts?: RemoteExecOptions & { allowFailure?: boolean },
) => ReturnType<Runner["run"]>;

export function errorText(err: unknown): string {
  if (err instanceof RemoteCommandError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
