/**
 * Callers of one repository share fetches ("rounds"): whoever arrives while a fetch runs waits for
 * it if it covers what they need, and one more fetch, queued behind it and shared by all of them,
 * asks for anything it does not. Coordination is per mirror directory and per process
 * (`repoStates`), whichever MirrorCache the callers came through.
 */
import { MirrorError } from "./mirrorErrors.ts";
import { isCovered } from "./mirrorRefs.ts";
import type { SyncResult } from "./mirrorSync.ts";
import type { Target } from "./mirrorTarget.ts";
import { FULL_SHA as SHA } from "./sha.ts";

interface Round {
  /** Commit ids and refs outside MIRROR_REFSPECS that this fetch asks for by name. */
  extras: Set<string>;
  /** Commit ids of callers that joined this fetch while it ran, hoping it brings them. */
  riders: Set<string>;
  target: Target;
  token: string | undefined;
  promise: Promise<SyncResult>;
  start(): void;
}

export interface RepoState {
  dir: string;
  /** ensure()/use() calls in progress. */
  users: number;
  current: Round | undefined;
  next: Round | undefined;
  evicting: Promise<void> | undefined;
}

/** Every mirror of this process, whichever MirrorCache opened it: in-process coordination is per directory. */
const repoStates = new Map<string, RepoState>();

/** The mirror's state, if anything in this process is using, fetching or evicting it. */
export const peekState = (dir: string): RepoState | undefined => repoStates.get(dir);

export function repoState(dir: string): RepoState {
  let state = repoStates.get(dir);
  if (!state) {
    state = { dir, users: 0, current: undefined, next: undefined, evicting: undefined };
    repoStates.set(dir, state);
  }
  return state;
}

export function dropIfIdle(state: RepoState): void {
  if (state.users === 0 && !state.current && !state.next && !state.evicting) repoStates.delete(state.dir);
}

export class FetchRounds {
  readonly #fetch: (target: Target, token: string | undefined, extras: string[]) => Promise<SyncResult>;
  readonly #missing: (dir: string, refs: string[]) => Promise<string[]>;

  /**
   * @param fetch one fetch of the mirror asking for `extras` besides the standard refs
   * @param missing which of `refs` the mirror lacks
   */
  constructor(
    fetch: (target: Target, token: string | undefined, extras: string[]) => Promise<SyncResult>,
    missing: (dir: string, refs: string[]) => Promise<string[]>,
  ) {
    this.#fetch = fetch;
    this.#missing = missing;
  }

  /** Resolves once the mirror holds `refs` (after a fetch, unless they are ids already present). */
  async ensure(state: RepoState, target: Target, token: string | undefined, refs: string[]): Promise<void> {
    while (state.evicting) await state.evicting;
    if (!state.current && refs.length > 0 && refs.every((r) => SHA.test(r))) {
      if ((await this.#missing(target.dir, refs)).length === 0) return;
    }
    const asked = (round: Round, ref: string) => round.extras.has(ref) || isCovered(ref);
    // A running fetch will do if it covers the named refs; commit ids are checked once it is done.
    const current = state.current;
    let round: Round;
    if (current && refs.every((r) => SHA.test(r) || asked(current, r))) {
      round = current;
      // Should the running fetch not bring these ids, the fetch queued after it asks for them.
      for (const r of refs.filter((r) => SHA.test(r))) {
        current.riders.add(r);
        state.next?.extras.add(r);
      }
    } else round = this.#pendingRound(state, target, token, refs);
    for (;;) {
      const result = await round.promise;
      const missing = await this.#missing(target.dir, refs);
      if (missing.length === 0) return;
      const awaited = round;
      if (missing.every((r) => asked(awaited, r))) {
        throw (
          result.extrasError ??
          new MirrorError(
            "ref-not-found",
            target.fullName,
            `${missing.join(", ")} not found in ${target.fullName} after fetching it`,
          )
        );
      }
      // Ids the fetch we joined was not asked for (say, pushed while it ran): one more, by name.
      const running = state.current;
      round =
        running && missing.every((r) => asked(running, r))
          ? running
          : this.#pendingRound(state, target, token, missing);
    }
  }

  /** The fetch that will cover `refs`: started now if none runs, else the one queued after it. */
  #pendingRound(state: RepoState, target: Target, token: string | undefined, refs: string[]): Round {
    const explicit = refs.filter((r) => SHA.test(r) || !isCovered(r));
    if (!state.current) {
      const round = this.#newRound(state, target, token, explicit);
      state.current = round;
      round.start();
      return round;
    }
    if (state.next) {
      for (const r of explicit) state.next.extras.add(r);
      // The newest caller's token is the freshest.
      if (token) state.next.token = token;
      state.next.target = target;
      return state.next;
    }
    state.next = this.#newRound(state, target, token, [...state.current.riders, ...explicit]);
    return state.next;
  }

  #newRound(state: RepoState, target: Target, token: string | undefined, extras: string[]): Round {
    let resolve!: (r: SyncResult) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<SyncResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    const round: Round = {
      extras: new Set(extras),
      riders: new Set(),
      target,
      token,
      promise,
      start: () => {
        const advance = () => {
          state.current = state.next;
          state.next = undefined;
          state.current?.start();
        };
        this.#fetch(round.target, round.token, [...round.extras]).then(
          (r) => {
            advance();
            resolve(r);
          },
          (e: unknown) => {
            advance();
            reject(e);
          },
        );
      },
    };
    return round;
  }
}
