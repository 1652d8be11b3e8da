/**
 * Deploy one stack to one host, the heart of the engine:
 * 1. lock (stack, host) on the host, 2. upload exactly the stack's files into a new release,
 * 3. switch `current` atomically, 4. pull changed images and `compose up`, 5. wait for health,
 * 6. on failure switch back and bring the previous release up again, 7. prune old releases.
 * Every remote command is a pure argv from commands/, executed by the Runner. Commands that change
 * the target run fenced by the host lock's nonce (hostLock.ts), and each such step first checks
 * the caller's signal: a deploy whose database lock was lost stops before its next change.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import type { StackSnapshot } from "../detect/snapshot.ts";
import type { ExpectedContainers } from "../state/deployed.ts";
import { stepTimer } from "../util/timings.ts";
import { releaseArchives } from "./archiveCache.ts";
import { type ComposeFlavor, composeDown, composeLogs, composePull, composeUp } from "./commands/compose.ts";
import { parseInspect, projectContainerStates } from "./commands/docker.ts";
import { type StackPaths, stackPaths } from "./commands/paths.ts";
import {
  isDir,
  listReleases,
  manifestPath,
  pruneReleases,
  readCurrent,
  readFile,
  removeTree,
  stagingDir,
  switchTo,
  uploadAndSwitch,
} from "./commands/release.ts";
import { expectedOf, judgeHealth } from "./health.ts";
import { acquireHostLock, type HeldLock, releaseOfLink } from "./hostLock.ts";
import { IMAGES_OVERRIDE, imagesOverride, projectOf, ReleaseManifest, releaseIdOf } from "./release.ts";
import { checkComposeFeatures, checkMounts, manifestOf, metaName } from "./releasePreflight.ts";
import { RemoteCommandError, type RemoteExecOptions, type Runner } from "./runner.ts";
import type { Argv } from "./shell.ts";
import { archiveFiles, type TarStream } from "./upload.ts";

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

  #who(holder: string, commit: string) {
    return { holder, commit, ...(this.#opts.lockOwner ? { owner: this.#opts.lockOwner } : {}) };
  }

  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { host, stack, signal } = req;
    checkMounts(stack, host);
    checkComposeFeatures(stack, host);
    const paths = stackPaths(host.root, stack.def.name);
    const { timings, time } = stepTimer();

    signal?.throwIfAborted();
    const lock = await time("lock", () =>
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
    const step = this.#stepper(host.name, lock, signal);
    try {
      // Which release runs now was read with the lock, in the same round trip.
      const previous = lock.current;
      const release = releaseIdOf(req.commit, stack);
      const manifest = manifestOf(req);
      // A redeploy of the release that runs, unchanged, is not uploaded again: replacing its
      // directory under running containers would empty their bind mounts.
      const inPlace =
        previous === release &&
        (await this.fingerprintOf(host.name, paths.release(release))) === stack.fingerprint;
      const uploadBytes = inPlace
        ? 0
        : await time("upload+switch", () => this.upload(req, paths, release, manifest, lock, step));
      let expected: ExpectedContainers;
      try {
        await time("up", () => this.up(host, paths.release(release), manifest, req.pullServices, step));
        expected = await time("health", () => this.waitHealthy(host, manifest, signal));
      } catch (err) {
        // A deploy that lost its lock changes nothing more: the target is someone else's now.
        signal?.throwIfAborted();
        const failureLogs = await this.logs(host, paths.release(release), manifest);
        const error = errorText(err);
        const base = { release, error, failureLogs, uploadBytes, timings };
        if (previous && previous !== release) {
          await time("rollback", () => this.reactivate(host, paths, previous, step));
          return { status: "rolled_back", previousRelease: previous, ...base };
        }
        if (previous === release) {
          // A redeploy of what runs: its containers were running before; leave them as they are.
          return { status: "failed", previousRelease: previous, ...base };
        }
        // Nothing ran before: stop the broken release rather than leave it half up.
        await step(composeDown(projectOf(manifest, paths.release(release), host.compose)), {
          allowFailure: true,
        });
        await step(removeTree(paths.current), { allowFailure: true });
        return { status: "failed", ...base };
      }
      await time("prune", () => step(pruneReleases(paths, this.#opts.keepReleases, release)));
      return {
        status: "succeeded",
        release,
        ...(previous ? { previousRelease: previous } : {}),
        uploadBytes,
        timings,
        expected,
      };
    } finally {
      await lock.release();
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
      const { manifest, expected } = await this.reactivate(host, paths, target, step);
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
      const manifest = await this.manifest(host.name, paths.release(current));
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

  /**
   * One round trip (commands/release.ts `uploadAndSwitch`): the manifest (and the images override)
   * then the tar of the stack's files stream into a staging dir, which is published as the
   * release, and `current` is switched to it.
   */
  private async upload(
    req: DeployRequest,
    paths: StackPaths,
    release: string,
    manifest: ReleaseManifest,
    lock: HeldLock,
    step: Step,
  ): Promise<number> {
    const host = req.host.name;
    const staging = stagingDir(paths, release, randomBytes(4).toString("hex"));
    const files = [...req.stack.inputs.files].filter(([, e]) => e !== null).map(([p]) => p);
    const meta: [path: string, content: Buffer][] = [
      [manifestPath(""), Buffer.from(JSON.stringify(manifest, null, 2))],
    ];
    if (manifest.overrideFiles && req.images)
      meta.push([IMAGES_OVERRIDE, Buffer.from(imagesOverride(req.images))]);
    const argv = uploadAndSwitch(
      paths,
      staging,
      release,
      meta.map(([path, content]) => ({ name: metaName(path), bytes: content.length })),
      { nonce: lock.nonce },
    );
    // The same archive for every host deploying this commit: one `git archive` for all of them
    // (archiveCache.ts); one too big to keep in memory streams from its own `git archive`.
    const shared = releaseArchives.get(req.repoDir, req.commit, files, req.stack.mounts);
    let streamed: TarStream | undefined;
    let bytes = 0;
    try {
      const stdin = Readable.from(
        (async function* () {
          const whole = await shared;
          if (whole) {
            bytes = whole.length;
            // Small: one chunk, one SSH data packet.
            yield Buffer.concat([...meta.map(([, content]) => content), whole]);
          } else {
            for (const [, content] of meta) yield content;
            streamed = archiveFiles(req.repoDir, req.commit, files, { mounts: req.stack.mounts });
            yield* streamed.stream;
          }
        })(),
      );
      const uploaded = await step(argv, { stdin }).then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
      const archiveFailed = await (streamed?.done ?? shared).then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
      // The host checked the gzip stream's length and CRC before publishing: when the script
      // succeeded, the release is complete and `current` names it, whatever git said after.
      if (uploaded) throw (archiveFailed ?? uploaded).err;
      return streamed ? streamed.bytes() : bytes;
    } catch (err) {
      await this.#runner.run(host, removeTree(staging), { allowFailure: true }).catch(() => {});
      throw err;
    }
  }

  private async reactivate(
    host: HostTarget,
    paths: StackPaths,
    release: string,
    step: Step,
  ): Promise<{ manifest: ReleaseManifest; expected: ExpectedContainers }> {
    const exists = await this.#runner.run(host.name, isDir(paths.release(release)), { allowFailure: true });
    if (exists.code !== 0)
      throw new DeployRefused(
        `release ${release.slice(0, 7)} of ${paths.stackDir} is gone from ${host.name}`,
      );
    const manifest = await this.manifest(host.name, paths.release(release));
    await step(switchTo(paths, release));
    await this.up(host, paths.release(release), manifest, [], step);
    return { manifest, expected: await this.waitHealthy(host, manifest) };
  }

  private async up(
    host: HostTarget,
    releaseDir: string,
    manifest: ReleaseManifest,
    pull: readonly string[],
    step: Step,
  ): Promise<void> {
    const project = projectOf(manifest, releaseDir, host.compose);
    if (pull.length) await step(composePull(project, pull));
    await step(
      composeUp(project, {
        waitSeconds: Math.ceil(this.#opts.healthTimeoutMs / 1000),
        noBuild: Boolean(manifest.overrideFiles?.length),
      }),
    );
  }

  /**
   * Polls until healthy and returns what then runs (health.ts `expectedOf`); stops polling as soon
   * as the caller's lock is lost (nothing is left to decide).
   */
  private async waitHealthy(
    host: HostTarget,
    manifest: ReleaseManifest,
    signal?: AbortSignal,
  ): Promise<ExpectedContainers> {
    const deadline = Date.now() + this.#opts.healthTimeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      // One round trip per poll: `docker ps` and `docker inspect` in one script.
      const states = parseInspect(
        (await this.#runner.run(host.name, projectContainerStates(manifest.projectName))).stdout,
      );
      const verdict = judgeHealth(states, manifest.services);
      if (verdict.state === "healthy") return expectedOf(manifest.projectName, manifest.services, states);
      if (verdict.state === "degraded") throw new Error(`unhealthy: ${verdict.reason}`);
      if (Date.now() >= deadline) {
        throw new Error(
          `not healthy after ${Math.round(this.#opts.healthTimeoutMs / 1000)} s: waiting for ${verdict.waitingFor.join(", ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, this.#opts.healthPollMs));
    }
  }

  private async logs(host: HostTarget, releaseDir: string, manifest: ReleaseManifest): Promise<string> {
    try {
      const rec = await this.#runner.run(
        host.name,
        composeLogs(projectOf(manifest, releaseDir, host.compose)),
        { allowFailure: true },
      );
      return `${rec.stdout}${rec.stderr}`;
    } catch (err) {
      return `(could not read logs: ${errorText(err)})`;
    }
  }

  /** The fingerprint a release on the host was made from; undefined when it cannot be read. */
  private async fingerprintOf(host: string, releaseDir: string): Promise<string | undefined> {
    try {
      return (await this.manifest(host, releaseDir)).fingerprint;
    } catch {
      return undefined;
    }
  }

  private async manifest(host: string, releaseDir: string): Promise<ReleaseManifest> {
    const rec = await this.#runner.run(host, readFile(manifestPath(releaseDir)));
    try {
      return ReleaseManifest.parse(JSON.parse(rec.stdout));
    } catch (err) {
      throw new DeployRefused(
        `release manifest ${manifestPath(releaseDir)} on ${host} is unreadable: ${errorText(err)}`,
      );
    }
  }
}

/** A command that changes the target (HostDeployer `#stepper`). */
type Step = (argv: Argv, opts?: RemoteExecOptions & { allowFailure?: boolean }) => ReturnType<Runner["run"]>;

export function errorText(err: unknown): string {
  if (err instanceof RemoteCommandError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
