/**
 * Plans off the App's main thread, within a time and memory budget. Planning reads inputs from
 * outside (globs, compose files, the repository config), which are bounded and parsed in linear
 * time, but the planner must not be trusted to be: a plan runs in a worker thread, one at a time,
 * and one over its budget is stopped (the thread terminated, a new one started for the next plan)
 * and fails with the stack it was working on. Webhooks and `/ping` keep answering meanwhile.
 */
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { ParseCache } from "../detect/snapshot.ts";
import type { ThreadMessage } from "./plannerThread.ts";
import type { PlanRequest, PlanResponse } from "./planRequest.ts";

/** A plan that did not finish within its budget (time or memory). No retry can change that. */
export class PlanBudgetError extends Error {
  override name = "PlanBudgetError";
  readonly permanent = true;
}

/** An error thrown inside the planner thread, by name and message. */
export class PlanThreadError extends Error {
  override name = "PlanThreadError";
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.permanent = permanent;
  }
}

/** Errors of the planner that a retry cannot fix (the commit or config is what it is). */
const PERMANENT_IN_THREAD = new Set(["RevisionError", "ProblemsError", "PlanBudgetError"]);

export interface PlannerOptions {
  /** Wall time a plan may take; default 30 s. */
  budgetMs?: number;
  /** Heap of the planner thread; default 512 MB. */
  maxHeapMb?: number;
  /** Told each stack a plan starts working on (the thread's progress). */
  onProgress?: (stack: string) => void;
}

export const DEFAULT_PLAN_BUDGET_MS = 30_000;

/** The budget set for this process (`STACKPILOT_PLAN_BUDGET_S`), else the default. */
export function planBudgetMs(env: NodeJS.ProcessEnv = process.env): number {
  const seconds = Number(env.STACKPILOT_PLAN_BUDGET_S);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : DEFAULT_PLAN_BUDGET_MS;
}

export class Planner {
  readonly #budgetMs: number;
  readonly #maxHeapMb: number;
  readonly #onProgress: ((stack: string) => void) | undefined;
  #worker: Worker | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #nextId = 1;

  constructor(opts: PlannerOptions = {}) {
    this.#budgetMs = opts.budgetMs ?? DEFAULT_PLAN_BUDGET_MS;
    this.#maxHeapMb = opts.maxHeapMb ?? 512;
    this.#onProgress = opts.onProgress;
  }

  /** Plans one request; requests run one after another (each with its own budget). */
  plan(request: PlanRequest, budgetMs = this.#budgetMs): Promise<PlanResponse> {
    const run = this.#tail.then(() => this.#run(request, budgetMs));
    this.#tail = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const here = fileURLToPath(import.meta.url);
    const worker = new Worker(new URL(`./plannerThread${extname(here)}`, import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb },
    });
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  #run(request: PlanRequest, budgetMs: number): Promise<PlanResponse> {
    const worker = this.#thread();
    const id = this.#nextId++;
    const what = `planning ${request.repoId} at ${request.range.head.slice(0, 12)}`;
    return new Promise<PlanResponse>((resolve, reject) => {
      let stack: string | undefined;
      const on = () =>
        stack ? `, while working on stack ${stack}` : ", while reading the repository's tree and config";
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
        fn();
      };
      const stop = () => {
        if (this.#worker === worker) this.#worker = undefined;
        void worker.terminate();
      };
      const timer = setTimeout(() => {
        settle(() => {
          stop();
          reject(
            new PlanBudgetError(
              `${what} took longer than its ${duration(budgetMs)} budget${on()}: nothing was deployed; a glob or compose file of that stack may need a look`,
            ),
          );
        });
      }, budgetMs);
      const onMessage = (m: ThreadMessage) => {
        if (m.id !== id) return;
        if (m.type === "progress") {
          stack = m.stack;
          this.#onProgress?.(m.stack);
        } else if (m.type === "done") settle(() => resolve(m.response));
        else settle(() => reject(new PlanThreadError(m.message, PERMANENT_IN_THREAD.has(m.name))));
      };
      const onError = (err: Error) => {
        settle(() => {
          stop();
          const oom = (err as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY";
          reject(
            oom
              ? new PlanBudgetError(`${what} ran out of its ${this.#maxHeapMb} MB of memory${on()}`)
              : new PlanThreadError(`${what} failed in the planner thread: ${err.message}`, false),
          );
        });
      };
      const onExit = (code: number) => {
        settle(() => {
          if (this.#worker === worker) this.#worker = undefined;
          reject(new PlanThreadError(`${what}: the planner thread exited (${code})${on()}`, false));
        });
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      worker.postMessage({ id, request });
    });
  }
}

/**
 * The same budget for a plan made in this thread (the CLI): checked before each stack, so a plan
 * that is slow rather than stuck stops with the stack's name. Returns the function that ends it.
 */
export function watchBudget(cache: ParseCache, budgetMs: number, what: string): () => void {
  const deadline = Date.now() + budgetMs;
  cache.progress = (stack) => {
    if (Date.now() > deadline)
      throw new PlanBudgetError(
        `${what} took longer than its ${duration(budgetMs)} budget, while working on stack ${stack}`,
      );
  };
  return () => {
    cache.progress = undefined;
  };
}

const duration = (ms: number) => (ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);
