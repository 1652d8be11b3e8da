/**
 * Stop a stack on a host on purpose, and start it again: what `stackpilot stop|start` and
 * `/stop|/start` do on each host. As every change to a target: under the database lock of the
 * (stack, host) and the host lock, each command fenced by the lock's nonce after checking the
 * database lock is still held (hostDeploy.ts's patterns). Stop is `compose down` of the current
 * release, which stays (with its `current` link) so that start brings exactly it back: `up`, then
 * the health wait. The stop is recorded first (state/stopped.ts) so that no plan made meanwhile
 * starts the stack; start forgets it only once the stack is up.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import { deployLockKey } from "../state/deployments.ts";
import type { Store } from "../state/store.ts";
import { composeDown, composeUp } from "./commands/compose.ts";
import { stackPaths } from "./commands/paths.ts";
import { manifestPath, readFile } from "./commands/release.ts";
import { DB_LOCK_TTL_MS } from "./dbLocks.ts";
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions, errorText } from "./hostDeploy.ts";
import { acquireHostLock } from "./hostLock.ts";
import { detectCompose, hostTarget } from "./hostTarget.ts";
import { projectOf, ReleaseManifest } from "./release.ts";
import { waitHealthy } from "./releaseReads.ts";
import { type RemoteExec, Runner } from "./runner.ts";
import type { Argv } from "./shell.ts";

export interface PowerInput {
  store: Pick<Store, "withLock" | "markStopped" | "clearStopped">;
  remote: RemoteExec;
  host: HostConfig;
  repo: string;
  stack: string;
  actor: string;
  engine?: Partial<EngineOptions>;
}

export type PowerResult =
  | { host: string; ok: true; note: string }
  | { host: string; ok: false; error: string };

/** Records the stop, then takes the stack's containers down on the host (its release stays). */
export function stopStack(input: PowerInput): Promise<PowerResult> {
  return onHost(input, "stop", async (op) => {
    await input.store.markStopped(
      { repo: input.repo, stack: input.stack, host: input.host.name },
      input.actor,
    );
    if (!op.release) return "nothing was running (no current release); recorded as stopped";
    await op.run(composeDown(op.project()));
    return `stopped release ${op.release.slice(0, 7)} (kept; \`start\` brings it back)`;
  });
}

/** Brings the current release up again, waits for it to be healthy, then forgets the stop. */
export function startStack(input: PowerInput): Promise<PowerResult> {
  return onHost(input, "start", async (op) => {
    if (!op.release) {
      await input.store.clearStopped({ repo: input.repo, stack: input.stack, host: input.host.name });
      return "no release on the host: the next deploy brings it";
    }
    const engine = { ...DEFAULT_ENGINE_OPTIONS, ...input.engine };
    const manifest = op.manifest();
    await op.run(
      composeUp(op.project(), {
        waitSeconds: Math.ceil(engine.healthTimeoutMs / 1000),
        noBuild: Boolean(manifest.overrideFiles?.length),
      }),
    );
    await waitHealthy(op.runner, input.host.name, manifest, engine);
    await input.store.clearStopped({ repo: input.repo, stack: input.stack, host: input.host.name });
    return `started release ${op.release.slice(0, 7)}`;
  });
}

interface Operation {
  runner: Runner;
  /** The release `current` names (read under the host lock). */
  release: string | undefined;
  manifest(): ReleaseManifest;
  project(): ReturnType<typeof projectOf>;
  /** A command changing the target: the database lock checked, fenced by the host lock. */
  run(argv: Argv): Promise<unknown>;
}

async function onHost(
  input: PowerInput,
  verb: "stop" | "start",
  fn: (op: Operation) => Promise<string>,
): Promise<PowerResult> {
  const { host, stack } = input;
  const holder = `${input.actor} (${verb})`;
  const runner = new Runner(input.remote);
  const engine = { ...DEFAULT_ENGINE_OPTIONS, ...input.engine };
  try {
    const note = await input.store.withLock(
      deployLockKey({ repo: input.repo, stack, host: host.name }),
      holder,
      DB_LOCK_TTL_MS,
      async (signal) => {
        const target = hostTarget(host, await detectCompose(runner, host));
        const paths = stackPaths(host.root, stack);
        const lock = await acquireHostLock(
          runner,
          host.name,
          stack,
          paths,
          { holder, commit: verb, ...(engine.lockOwner ? { owner: engine.lockOwner } : {}) },
          engine.lockTtlMs,
          { signal },
        );
        try {
          const release = lock.current;
          let manifest: ReleaseManifest | undefined;
          if (release) {
            const text = (await runner.run(host.name, readFile(manifestPath(paths.release(release))))).stdout;
            manifest = ReleaseManifest.parse(JSON.parse(text));
          }
          const known = () => {
            if (!manifest || !release) throw new Error(`${stack} has no current release on ${host.name}`);
            return { manifest, release };
          };
          return await fn({
            runner,
            release,
            manifest: () => known().manifest,
            project: () => projectOf(known().manifest, paths.release(known().release), target.compose),
            run: (argv) => {
              signal.throwIfAborted();
              return runner.run(host.name, lock.fence(argv));
            },
          });
        } finally {
          await lock.release();
        }
      },
    );
    return { host: host.name, ok: true, note };
  } catch (err) {
    return { host: host.name, ok: false, error: errorText(err) };
  }
}
