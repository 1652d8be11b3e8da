/**
 * The deploy engine's state: deployments and their logs, what is deployed where, locks and
 * webhook deliveries, on embedded PGlite (a data directory) or a Postgres server (DATABASE_URL).
 */
import { join } from "node:path";
import type { BuildRecord } from "../plan/images.ts";
import type { Build, NewBuild } from "./builds.ts";
import * as builds from "./builds.ts";
import type { Db } from "./db.ts";
import * as deliveries from "./deliveries.ts";
import type { DeployedState, SetDeployedInput } from "./deployed.ts";
import * as deployed from "./deployed.ts";
import type {
  AppendedLog,
  CommandLogInput,
  Deployment,
  DeploymentFilter,
  DeploymentWithLogs,
  DeployTarget,
  FinishInput,
  NewDeployment,
} from "./deployments.ts";
import * as deployments from "./deployments.ts";
import type { DriftCheck, HealAttempt, HealState, NewDriftCheck } from "./drift.ts";
import * as drift from "./drift.ts";
import type { HookRunEnd, HookRunRecord, HookRunStart, HookStat } from "./hookRuns.ts";
import * as hookRuns from "./hookRuns.ts";
import type { LockDetails, LockInfo } from "./locks.ts";
import * as locks from "./locks.ts";
import { DEFAULT_LOG_LIMITS, type LogLimits } from "./logBounds.ts";
import { migrate } from "./migrate.ts";
import type { Episode, EpisodeKey } from "./notifyEpisodes.ts";
import * as episodes from "./notifyEpisodes.ts";
import type { DeploymentProgress, TargetOverview } from "./overview.ts";
import * as overview from "./overview.ts";
import { openPgliteDb } from "./pgliteDb.ts";
import { openPostgresDb } from "./postgresDb.ts";
import * as procedureRuns from "./procedureRuns.ts";
import type { NewRollout, Rollout, RolloutStatus } from "./rollouts.ts";
import * as rollouts from "./rollouts.ts";
import * as schedules from "./schedules.ts";
import type { NewUiSession, ReadableRepo, UiSession } from "./sessions.ts";
import * as sessions from "./sessions.ts";
import type { DeploymentSource, SourceDependent, SourceUse, SourceUser } from "./sources.ts";
import * as sources from "./sources.ts";
import type { StoppedStack } from "./stopped.ts";
import * as stopped from "./stopped.ts";

export interface OpenStoreOptions {
  /** A Postgres server (several replicas may share it); without it, PGlite in `<dataDir>/pglite`. */
  databaseUrl?: string;
  dataDir: string;
  logLimits?: Partial<LogLimits>;
}

export interface StoreOptions {
  logLimits?: Partial<LogLimits>;
}

export interface Store {
  readonly db: Db;

  createDeployment(input: NewDeployment): Promise<number>;
  /** queued -> running; false when it was not queued. */
  startDeployment(id: number): Promise<boolean>;
  /** queued/running -> status; false when it had already ended (e.g. marked interrupted). */
  finishDeployment(id: number, input: FinishInput): Promise<boolean>;
  /** Stores one command's output, bounded per command and per deployment (see logBounds.ts). */
  appendCommandLog(id: number, input: CommandLogInput): Promise<AppendedLog>;
  getDeployment(id: number): Promise<DeploymentWithLogs | undefined>;
  listDeployments(filter: DeploymentFilter): Promise<Deployment[]>;
  /** Running deployments whose deploy lock expired, queued ones of an ended rollout: interrupted and returned. */
  recoverInterrupted(): Promise<Deployment[]>;
  /** The target's other running deployments, when `self` holds its lock: interrupted (see deployments.ts). */
  interruptOthers(target: DeployTarget, self: number): Promise<Deployment[]>;

  // Hook attempts (hookRuns.ts): recorded as they start and end, counted by `stackpilot status`.
  startHookRun(deploymentId: number, run: HookRunStart): Promise<number>;
  finishHookRun(id: number, end: HookRunEnd): Promise<void>;
  priorHookAttempts(deploymentId: number): Promise<Record<string, number>>;
  listHookRuns(deploymentId: number): Promise<HookRunRecord[]>;
  hookStats(repo: string): Promise<HookStat[]>;

  createRollout(input: NewRollout): Promise<number>;
  setRolloutGithub(id: number, ids: { githubDeploymentId?: number; checkRunId?: number }): Promise<void>;
  finishRollout(
    id: number,
    result: { status: Exclude<RolloutStatus, "running">; error?: string | null; reported: boolean },
  ): Promise<boolean>;
  markRolloutReported(id: number): Promise<void>;
  /** Marks running rollouts whose lease lapsed interrupted; returns every ended, unreported one. */
  interruptedRollouts(error: string): Promise<Rollout[]>;
  getRollout(id: number): Promise<Rollout | undefined>;

  getDeployed(repo: string): Promise<DeployedState[]>;
  setDeployed(input: SetDeployedInput): Promise<void>;
  pin(target: DeployTarget): Promise<boolean>;
  unpin(target: DeployTarget): Promise<boolean>;

  acquireLock(key: string, holder: string, ttlMs: number, details?: LockDetails): Promise<boolean>;
  heartbeat(key: string, holder: string, ttlMs: number): Promise<boolean>;
  releaseLock(key: string, holder: string): Promise<boolean>;
  /**
   * Acquires the lock (or throws LockBusyError), runs fn while heartbeating every ttl/3, releases
   * it in finally. fn's signal aborts if the lock is lost meanwhile.
   */
  withLock<T>(
    key: string,
    holder: string,
    ttlMs: number,
    fn: (signal: AbortSignal) => Promise<T>,
    details?: LockDetails,
  ): Promise<T>;
  /** Like withLock, for a lock already taken with acquireLock. */
  holdLock<T>(
    key: string,
    holder: string,
    ttlMs: number,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T>;
  getLock(key: string): Promise<LockInfo | undefined>;
  listLocks(): Promise<LockInfo[]>;
  forceUnlock(key: string): Promise<boolean>;
  /** A deploy lock freed by a person, its running deployment ended as failed (deployments.ts). */
  unlockTarget(target: DeployTarget, by: string): Promise<boolean>;

  startBuild(input: NewBuild): Promise<number>;
  finishBuild(
    id: number,
    result: { status: "succeeded" | "failed"; error?: string | null; log: string },
  ): Promise<void>;
  listReusableBuilds(repo: string): Promise<BuildRecord[]>;
  listBuilds(repo: string, limit?: number): Promise<Build[]>;

  recordDelivery(deliveryId: string, event: string): Promise<boolean>;
  forgetDelivery(deliveryId: string): Promise<void>;
  pruneDeliveries(maxAgeMs: number): Promise<number>;

  // The orchestrator: of several deployments waiting for one target, only the newest runs.
  supersedeIfStale(id: number): Promise<boolean>;

  /** Stacks stopped on purpose (stopped.ts): no plan starts them until `start`. */
  markStopped(target: DeployTarget, actor: string): Promise<void>;
  clearStopped(target: DeployTarget): Promise<boolean>;
  isStopped(target: DeployTarget): Promise<boolean>;
  listStopped(repo?: string): Promise<StoppedStack[]>;

  /** Procedure runs, their steps, trigger deliveries and schedules (procedureRuns.ts, schedules.ts). */
  readonly procedures: ProcedureStore;

  // Drift detection (src/drift): last checks, heal history, repositories' installations.
  recordDriftCheck(input: NewDriftCheck): Promise<{ previous: DriftCheck["state"] | undefined }>;
  setHealState(target: DeployTarget, heal: HealState): Promise<void>;
  listDriftChecks(repo?: string): Promise<DriftCheck[]>;
  pruneDriftChecks(): Promise<number>;
  healAttempts(target: DeployTarget, sinceMs: number): Promise<HealAttempt[]>;
  /** queued -> superseded, saying why; false when it was not queued. */
  supersedeDeployment(id: number, reason: string): Promise<boolean>;
  deployedInstallations(): Promise<{ repo: string; installationId: number | null }[]>;

  // Notifications (src/notify): one episode per (topic, target), decided under a row lock.
  updateEpisode<T>(
    key: EpisodeKey,
    decide: (prev: Episode, now: Date) => { next: Episode; result: T },
  ): Promise<T>;
  // The web UI (overview.ts, sessions.ts).
  targetsOverview(repo: string): Promise<TargetOverview[]>;
  /** The repository and commit a deployment put on its target, while the target still runs it. */
  commitOfDeployed(deploymentId: number): Promise<{ repo: string; commit: string } | undefined>;
  knownRepos(): Promise<string[]>;
  deploymentProgress(id: number, afterSeq: number, limit: number): Promise<DeploymentProgress | undefined>;
  activeDeployments(): Promise<Deployment[]>;
  createSession(input: NewUiSession): Promise<void>;
  getSession(idHash: string): Promise<UiSession | undefined>;
  setSessionRepos(idHash: string, repos: ReadableRepo[]): Promise<void>;
  deleteSession(idHash: string): Promise<void>;
  pruneSessions(): Promise<number>;
  /** The repository's sources, as its default branch's plan just read them (state/sources.ts). */
  replaceSourceUses(user: SourceUser, uses: readonly SourceUse[]): Promise<void>;
  /** Repositories using `branch` of a source repository. */
  sourceDependents(sourceRepo: string, branch: string, isDefaultBranch: boolean): Promise<SourceDependent[]>;
  /** Source name -> the commit the repository's last default-branch plan read. */
  sourceCommits(repo: string): Promise<Map<string, string>>;
  /** The source commits a deployment's release was made from. */
  deploymentSources(id: number): Promise<DeploymentSource[]>;

  close(): Promise<void>;
}

/** The state of procedure runs, bound to the database (procedureRuns.ts, schedules.ts). */
export interface ProcedureStore {
  createRun: Bound<typeof procedureRuns.createRun>;
  deleteRun: Bound<typeof procedureRuns.deleteRun>;
  startRun: Bound<typeof procedureRuns.startRun>;
  finishRun: Bound<typeof procedureRuns.finishRun>;
  supersedeRunIfStale: Bound<typeof procedureRuns.supersedeRunIfStale>;
  setRunCheckRun: Bound<typeof procedureRuns.setRunCheckRun>;
  getRun: Bound<typeof procedureRuns.getRun>;
  listRuns: Bound<typeof procedureRuns.listRuns>;
  listSteps: Bound<typeof procedureRuns.listSteps>;
  setStep: Bound<typeof procedureRuns.setStep>;
  addStepDetail: Bound<typeof procedureRuns.addStepDetail>;
  pruneTriggerDeliveries: Bound<typeof procedureRuns.pruneTriggerDeliveries>;
  setSchedules: Bound<typeof schedules.setSchedules>;
  listSchedules: Bound<typeof schedules.listSchedules>;
  claimSlot: Bound<typeof schedules.claimSlot>;
  setSlotRun: Bound<typeof schedules.setSlotRun>;
}
type Bound<F> = F extends (db: never, ...args: infer A) => infer R ? (...args: A) => R : never;

/** Opens the database, brings its schema up to date and returns the store over it. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const db = await openDatabase(options);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return createStore(db, options);
}

/** The database alone, not migrated: Postgres when databaseUrl is given, else PGlite in `<dataDir>/pglite`. */
export async function openDatabase(options: Pick<OpenStoreOptions, "databaseUrl" | "dataDir">): Promise<Db> {
  return options.databaseUrl
    ? await openPostgresDb(options.databaseUrl)
    : await openPgliteDb(join(options.dataDir, "pglite"));
}

/** A store over an open, migrated database; closing the store closes it. */
export function createStore(db: Db, options: StoreOptions = {}): Store {
  const logLimits: LogLimits = { ...DEFAULT_LOG_LIMITS, ...options.logLimits };
  return {
    db,
    createDeployment: (input) => deployments.createDeployment(db, input),
    startDeployment: (id) => deployments.startDeployment(db, id),
    finishDeployment: (id, input) => deployments.finishDeployment(db, id, input),
    appendCommandLog: (id, input) => deployments.appendCommandLog(db, id, input, logLimits),
    getDeployment: (id) => deployments.getDeployment(db, id),
    listDeployments: (filter) => deployments.listDeployments(db, filter),
    recoverInterrupted: () => deployments.recoverInterrupted(db),
    interruptOthers: (target, self) => deployments.interruptOthers(db, target, self),

    startHookRun: (deploymentId, run) => hookRuns.startHookRun(db, deploymentId, run),
    finishHookRun: (id, end) => hookRuns.finishHookRun(db, id, end),
    priorHookAttempts: (deploymentId) => hookRuns.priorHookAttempts(db, deploymentId),
    listHookRuns: (deploymentId) => hookRuns.listHookRuns(db, deploymentId),
    hookStats: (repo) => hookRuns.hookStats(db, repo),

    createRollout: (input) => rollouts.createRollout(db, input),
    setRolloutGithub: (id, ids) => rollouts.setRolloutGithub(db, id, ids),
    finishRollout: (id, result) => rollouts.finishRollout(db, id, result),
    markRolloutReported: (id) => rollouts.markRolloutReported(db, id),
    interruptedRollouts: (error) => rollouts.interruptedRollouts(db, error),
    getRollout: (id) => rollouts.getRollout(db, id),

    getDeployed: (repo) => deployed.getDeployed(db, repo),
    setDeployed: (input) => deployed.setDeployed(db, input),
    pin: (target) => deployed.setPinned(db, target, true),
    unpin: (target) => deployed.setPinned(db, target, false),

    acquireLock: (key, holder, ttlMs, details) => locks.acquireLock(db, key, holder, ttlMs, details),
    heartbeat: (key, holder, ttlMs) => locks.heartbeatLock(db, key, holder, ttlMs),
    releaseLock: (key, holder) => locks.releaseLock(db, key, holder),
    withLock: async (key, holder, ttlMs, fn, details) => {
      if (!(await locks.acquireLock(db, key, holder, ttlMs, details))) {
        throw new locks.LockBusyError(key, await locks.getLock(db, key));
      }
      return locks.holdLock(db, key, holder, ttlMs, fn);
    },
    holdLock: (key, holder, ttlMs, fn) => locks.holdLock(db, key, holder, ttlMs, fn),
    getLock: (key) => locks.getLock(db, key),
    listLocks: () => locks.listLocks(db),
    forceUnlock: (key) => locks.forceUnlock(db, key),
    unlockTarget: (target, by) => deployments.unlockTarget(db, target, by),

    startBuild: (input) => builds.startBuild(db, input),
    finishBuild: (id, result) => builds.finishBuild(db, id, result),
    listReusableBuilds: (repo) => builds.listReusableBuilds(db, repo),
    listBuilds: (repo, limit) => builds.listBuilds(db, repo, limit),

    recordDelivery: (deliveryId, event) => deliveries.recordDelivery(db, deliveryId, event),
    forgetDelivery: (deliveryId) => deliveries.forgetDelivery(db, deliveryId),
    pruneDeliveries: (maxAgeMs) => deliveries.pruneDeliveries(db, maxAgeMs),

    supersedeIfStale: (id) => deployments.supersedeIfStale(db, id),

    markStopped: (target, actor) => stopped.markStopped(db, target, actor),
    clearStopped: (target) => stopped.clearStopped(db, target),
    isStopped: (target) => stopped.isStopped(db, target),
    listStopped: (repo) => stopped.listStopped(db, repo),
    procedures: bindProcedureStore(db),
    recordDriftCheck: (input) => drift.recordDriftCheck(db, input),
    setHealState: (target, heal) => drift.setHealState(db, target, heal),
    listDriftChecks: (repo) => drift.listDriftChecks(db, repo),
    pruneDriftChecks: () => drift.pruneDriftChecks(db),
    healAttempts: (target, sinceMs) => drift.healAttempts(db, target, sinceMs),
    supersedeDeployment: (id, reason) => drift.supersedeDeployment(db, id, reason),
    deployedInstallations: () => drift.deployedInstallations(db),

    updateEpisode: (key, decide) => episodes.updateEpisode(db, key, decide),
    targetsOverview: (repo) => overview.targetsOverview(db, repo),
    commitOfDeployed: (id) => overview.commitOfDeployed(db, id),
    knownRepos: () => overview.knownRepos(db),
    deploymentProgress: (id, afterSeq, limit) => overview.deploymentProgress(db, id, afterSeq, limit),
    activeDeployments: () => overview.activeDeployments(db),
    createSession: (input) => sessions.createSession(db, input),
    getSession: (idHash) => sessions.getSession(db, idHash),
    setSessionRepos: (idHash, repos) => sessions.setSessionRepos(db, idHash, repos),
    deleteSession: (idHash) => sessions.deleteSession(db, idHash),
    pruneSessions: () => sessions.pruneSessions(db),
    replaceSourceUses: (user, uses) => sources.replaceSourceUses(db, user, uses),
    sourceDependents: (repo, branch, isDefault) => sources.sourceDependents(db, repo, branch, isDefault),
    sourceCommits: (repo) => sources.sourceCommits(db, repo),
    deploymentSources: (id) => sources.deploymentSources(db, id),

    close: () => db.close(),
  };
}

function bindProcedureStore(db: Db): ProcedureStore {
  const p = procedureRuns;
  return {
    createRun: (input, dedupe) => p.createRun(db, input, dedupe),
    deleteRun: (id) => p.deleteRun(db, id),
    startRun: (id, at) => p.startRun(db, id, at),
    finishRun: (id, end) => p.finishRun(db, id, end),
    supersedeRunIfStale: (id) => p.supersedeRunIfStale(db, id),
    setRunCheckRun: (id, checkRunId) => p.setRunCheckRun(db, id, checkRunId),
    getRun: (id) => p.getRun(db, id),
    listRuns: (filter) => p.listRuns(db, filter),
    listSteps: (runId) => p.listSteps(db, runId),
    setStep: (runId, path, u) => p.setStep(db, runId, path, u),
    addStepDetail: (runId, path, detail) => p.addStepDetail(db, runId, path, detail),
    pruneTriggerDeliveries: (maxAgeMs) => p.pruneTriggerDeliveries(db, maxAgeMs),
    setSchedules: (repoRef, list) => schedules.setSchedules(db, repoRef, list),
    listSchedules: () => schedules.listSchedules(db),
    claimSlot: (repo, procedure, slot) => schedules.claimSlot(db, repo, procedure, slot),
    setSlotRun: (repo, procedure, slot, runId) => schedules.setSlotRun(db, repo, procedure, slot, runId),
  };
}
