import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fromPglite, PgBoss } from "pg-boss";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Deployment, deployLockKey, INTERRUPTED_ERROR } from "../../src/state/deployments.ts";
import {
  createQueue,
  type DeployContext,
  type DeployHandler,
  type DeployJob,
  type DeployQueue,
  type DeployQueueOptions,
} from "../../src/state/deployQueue.ts";
import type { Store } from "../../src/state/store.ts";
import { type StoreLocation, useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

/** Fast settings for tests: short polls and leases. */
const FAST: Omit<DeployQueueOptions, "concurrency"> = {
  pollingIntervalSeconds: 0.5,
  lockPollMs: 50,
  lockTtlMs: 3000,
  retryDelaySeconds: 0,
  heartbeatSeconds: 10,
  onError: () => {},
};

interface Run {
  deploymentId: number;
  commit: string;
  target: string;
  startedAt: number;
  endedAt?: number;
}

/** A handler that records its runs and, for the commits it is told to, waits until released. */
class Recorder {
  readonly runs: Run[] = [];
  readonly #held = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  running = 0;
  maxRunning = 0;

  hold(commit: string): void {
    let resolve = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.#held.set(commit, { promise, resolve });
  }

  release(commit: string): void {
    this.#held.get(commit)?.resolve();
  }

  handler(result: (ctx: DeployContext) => Promise<void> | void = () => {}): DeployHandler {
    return async (ctx) => {
      const run: Run = {
        deploymentId: ctx.deployment.id,
        commit: ctx.deployment.commit,
        target: `${ctx.deployment.stack}@${ctx.deployment.host}`,
        startedAt: Date.now(),
      };
      this.runs.push(run);
      this.maxRunning = Math.max(this.maxRunning, ++this.running);
      try {
        await this.#held.get(ctx.deployment.commit)?.promise;
        await result(ctx);
        return { status: "succeeded", timings: { total: Date.now() - run.startedAt } };
      } finally {
        this.running--;
        run.endedAt = Date.now();
      }
    };
  }
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function statusOf(store: Store, id: number): Promise<Deployment["status"] | undefined> {
  return (await store.getDeployment(id))?.status;
}

/** Creates the deployment row and queues its job, as the webhook handler or CLI would. */
async function request(
  store: Store,
  queue: DeployQueue,
  target: { repo: string; stack: string; host: string },
  commit: string,
): Promise<number> {
  const input = {
    ...target,
    commit,
    fingerprint: `sha256:${commit}`,
    actor: "alice",
    trigger: "merge" as const,
  };
  const deploymentId = await store.createDeployment(input);
  const job: DeployJob = { ...input, deploymentId };
  await queue.enqueueDeploy(job);
  return deploymentId;
}

/** A second pg-boss on the store's database, standing in for another process's worker. */
function otherWorkerBoss(store: Store): PgBoss {
  const boss =
    store.db.kind === "pglite"
      ? new PgBoss({ db: fromPglite(store.db.pglite), backend: "pglite" })
      : new PgBoss({ connectionString: store.db.databaseUrl, max: 2 });
  boss.on("error", () => {});
  return boss;
}

async function jobState(store: Store, jobId: string): Promise<string | undefined> {
  const [row] = await store.db.query<{ state: string }>(
    "SELECT state::text AS state FROM pgboss.job WHERE id = $1",
    [jobId],
  );
  return row?.state;
}

describe.each(backends)("deploy queue on $name", (backend) => {
  // Tests share one database (a new PGlite one with pg-boss installed costs seconds) and keep
  // apart by queue name and repo; the restart test, which closes its store, gets its own.
  let shared: { location: StoreLocation; store: Store };
  beforeAll(async () => {
    const location = await backend.newDatabase();
    shared = { location, store: await backend.openStore(location) };
  });
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(
    options: Partial<DeployQueueOptions> & { concurrency: number; ownDatabase?: boolean },
  ) {
    let { location, store } = shared;
    if (options.ownDatabase) {
      location = await backend.newDatabase();
      store = await backend.openStore(location);
      cleanups.push(() => store.close());
    }
    const name = `deploy-${randomUUID().slice(0, 8)}`;
    const queue = await createQueue(store, { ...FAST, name, ...options });
    cleanups.push(() => queue.stop({ graceful: false }));
    const target = { repo: `acme/${randomUUID().slice(0, 8)}`, stack: "web", host: "h1" };
    return { location, store, queue, target, name };
  }

  it("runs a queued deployment and records it succeeded with its timings", async () => {
    const { store, queue, target } = await setup({ concurrency: 2 });
    const recorder = new Recorder();
    await queue.work(recorder.handler());
    const id = await request(store, queue, target, "c1");
    await waitFor("success", async () => (await statusOf(store, id)) === "succeeded");
    const deployment = await store.getDeployment(id);
    expect(deployment?.timings?.total).toBeTypeOf("number");
    expect(recorder.runs.map((r) => r.deploymentId)).toEqual([id]);
  });

  it("runs deployments of one target one at a time, even across two replicas", async () => {
    const { location, store, queue, target, name } = await setup({ concurrency: 2 });
    // On Postgres the replica has connections of its own; PGlite is one process's database.
    const replicaStore = backend.name === "postgres" ? await backend.openStore(location) : store;
    if (replicaStore !== store) cleanups.push(() => replicaStore.close());
    const replica = await createQueue(replicaStore, {
      ...FAST,
      name,
      concurrency: 2,
      instanceId: "replica-2",
    });
    cleanups.push(() => replica.stop({ graceful: false }));
    const recorder = new Recorder();
    recorder.hold("c1");
    await queue.work(recorder.handler());
    await replica.work(recorder.handler());

    const first = await request(store, queue, target, "c1");
    await waitFor("c1 running", async () => (await statusOf(store, first)) === "running");
    const second = await request(store, replica, target, "c2");
    await sleep(1500); // both replicas poll meanwhile; c2 must wait for c1
    expect(await statusOf(store, second)).toBe("queued");
    expect(recorder.runs).toHaveLength(1);

    recorder.release("c1");
    await waitFor("c2 done", async () => (await statusOf(store, second)) === "succeeded");
    const [run1, run2] = recorder.runs;
    expect(recorder.maxRunning).toBe(1);
    expect(run2?.startedAt).toBeGreaterThanOrEqual(run1?.endedAt ?? Infinity);
  });

  it("deploys only the newest of several queued commits for a target and marks the others superseded", async () => {
    const { store, queue, target } = await setup({ concurrency: 2 });
    const recorder = new Recorder();
    recorder.hold("c1");
    await queue.work(recorder.handler());

    const c1 = await request(store, queue, target, "c1");
    await waitFor("c1 running", async () => (await statusOf(store, c1)) === "running");
    const c2 = await request(store, queue, target, "c2");
    const c3 = await request(store, queue, target, "c3");
    recorder.release("c1");

    await waitFor("c3 done", async () => (await statusOf(store, c3)) === "succeeded");
    expect(await statusOf(store, c1)).toBe("succeeded");
    expect(await statusOf(store, c2)).toBe("superseded");
    expect(recorder.runs.map((r) => r.commit)).toEqual(["c1", "c3"]);
  });

  it("runs different targets in parallel, never more than the concurrency bound", async () => {
    const { store, queue, target } = await setup({ concurrency: 2 });
    const recorder = new Recorder();
    for (const c of ["a", "b", "c"]) recorder.hold(c);
    await queue.work(recorder.handler());

    const ids = [
      await request(store, queue, { ...target, stack: "a" }, "a"),
      await request(store, queue, { ...target, stack: "b" }, "b"),
      await request(store, queue, { ...target, stack: "c" }, "c"),
    ];
    await waitFor("two running", async () => recorder.running === 2);
    await sleep(1000); // the third must not start while two run
    expect(recorder.running).toBe(2);
    for (const c of ["a", "b", "c"]) recorder.release(c);

    await waitFor("all done", async () => {
      const statuses = await Promise.all(ids.map((id) => statusOf(store, id)));
      return statuses.every((s) => s === "succeeded");
    });
    expect(recorder.maxRunning).toBe(2);
    expect(new Set(recorder.runs.map((r) => r.target)).size).toBe(3);
  });

  it("retries a throwing deployment up to retryLimit, each attempt a visible failed row", async () => {
    const { store, queue, target } = await setup({ concurrency: 1, retryLimit: 1 });
    const recorder = new Recorder();
    await queue.work(
      recorder.handler(({ attempt }) => {
        throw new Error(`ssh: connection refused (attempt ${attempt})`);
      }),
    );
    const id = await request(store, queue, target, "c1");

    const rows = await waitFor("two failed attempts", async () => {
      const all = await store.listDeployments({ repo: target.repo, limit: 10 });
      return all.length === 2 && all.every((d) => d.status === "failed") && all;
    });
    const [retry, original] = rows;
    expect(original).toMatchObject({ id, trigger: "merge", error: "ssh: connection refused (attempt 0)" });
    expect(retry).toMatchObject({
      trigger: "retry",
      retryOf: id,
      commit: "c1",
      error: "ssh: connection refused (attempt 1)",
    });
    await sleep(1000); // out of retries: nothing more runs
    expect(await store.listDeployments({ repo: target.repo, limit: 10 })).toHaveLength(2);
    expect(recorder.runs).toHaveLength(2);
  });

  it("after a crash and restart, fails the interrupted deployment visibly, retries it and loses no row", async () => {
    const { location, store, queue, target, name } = await setup({
      concurrency: 1,
      lockTtlMs: 600,
      ownDatabase: true,
    });
    const recorder = new Recorder();
    recorder.hold("c1"); // never released: the deployer "dies" mid-deploy
    await queue.work(recorder.handler());
    const interrupted = await request(store, queue, target, "c1");
    await waitFor("c1 running", async () => (await statusOf(store, interrupted)) === "running");
    // Queued for another target behind the concurrency bound when the crash comes.
    const waiting = await request(store, queue, { ...target, stack: "db" }, "d1");
    await sleep(300);
    expect(await statusOf(store, waiting)).toBe("queued");

    // Crash: the worker stops without finishing, its database connection goes away.
    await queue.stop({ graceful: false });
    await store.close();

    const restarted = await backend.openStore(location);
    const queueAfter = await createQueue(restarted, { ...FAST, name, concurrency: 1, lockTtlMs: 600 });
    cleanups.push(async () => {
      await queueAfter.stop({ graceful: false });
      await restarted.close();
    });
    const after = new Recorder();
    await queueAfter.work(after.handler());

    const rows = await waitFor("retry and waiting deployment succeeded", async () => {
      const all = await restarted.listDeployments({ repo: target.repo, limit: 10 });
      return all.filter((d) => d.status === "succeeded").length === 2 && all;
    });
    const byId = new Map(rows.map((d) => [d.id, d]));
    expect(byId.get(interrupted)).toMatchObject({ status: "failed", error: INTERRUPTED_ERROR, commit: "c1" });
    expect(byId.get(waiting)).toMatchObject({ status: "succeeded", trigger: "merge", commit: "d1" });
    const retry = rows.find((d) => d.trigger === "retry");
    expect(retry).toMatchObject({ status: "succeeded", retryOf: interrupted, commit: "c1", stack: "web" });
    expect(rows).toHaveLength(3);
    expect(after.runs.map((r) => r.commit).sort()).toEqual(["c1", "d1"]);
  });

  it("fails over a job left active by a worker that died hard, once the target lock expires", async () => {
    const { store, queue, target, name } = await setup({
      concurrency: 1,
      lockTtlMs: 400,
      recoverIntervalMs: 200,
    });
    const id = await request(store, queue, target, "c1");
    // Another process claims the job, starts the deployment, takes the target lock and is
    // killed: nothing is released, and pg-boss still sees the job as active.
    const dead = otherWorkerBoss(store);
    await dead.start();
    const [job] = await dead.fetch<DeployJob>(name);
    expect(job?.data.deploymentId).toBe(id);
    expect(await store.startDeployment(id)).toBe(true);
    expect(await store.acquireLock(deployLockKey(target), "killed-worker", 400)).toBe(true);
    await dead.stop({ graceful: false, close: true });
    expect(await jobState(store, job?.id ?? "")).toBe("active");

    const recorder = new Recorder();
    await queue.work(recorder.handler());
    // Without the recovery sweep this would wait for pg-boss to notice the missing heartbeat (minutes).
    const retry = await waitFor(
      "the retry to succeed",
      async () => {
        const latest = await store.latestAttempt(id);
        return latest?.trigger === "retry" && latest.status === "succeeded" && latest;
      },
      10_000,
    );
    expect(retry.retryOf).toBe(id);
    expect(await store.getDeployment(id)).toMatchObject({ status: "failed", error: INTERRUPTED_ERROR });
    expect(recorder.runs.map((r) => r.deploymentId)).toEqual([retry.id]);
  });

  it("leaves a deployment failed, not queued forever, when its job runs out of retries before starting it", async () => {
    const { store, target, name } = await setup({ concurrency: 1 });
    const broken: Store = {
      ...store,
      acquireLock: async () => {
        throw new Error("database unavailable");
      },
    };
    const queue = await createQueue(broken, {
      ...FAST,
      name: `${name}-broken`,
      concurrency: 1,
      retryLimit: 1,
    });
    cleanups.push(() => queue.stop({ graceful: false }));
    const recorder = new Recorder();
    await queue.work(recorder.handler());
    const id = await request(store, queue, target, "c1");

    const deployment = await waitFor("the deployment to fail", async () => {
      const d = await store.getDeployment(id);
      return d?.status === "failed" && d;
    });
    expect(deployment.error).toBe("the deploy job failed 2 times before this deployment could start");
    expect(recorder.runs).toHaveLength(0);
  });
});
