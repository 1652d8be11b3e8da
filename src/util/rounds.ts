/**
 * Background rounds (recovery, drift, schedules): the first at once, then every `intervalMs`; a
 * round never overlaps the one before, a failed round is reported and the next one comes, and
 * `stop` waits for the round in flight.
 */
export interface Rounds<A, T> {
  /** A round now (after the one in flight); undefined when it failed or the rounds stopped. */
  round(arg?: A): Promise<T | undefined>;
  stop(): Promise<void>;
}

export function startRounds<A, T>(
  work: (arg: A | undefined) => Promise<T>,
  intervalMs: number,
  onError: (err: unknown) => void,
): Rounds<A, T> {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const round = (arg?: A): Promise<T | undefined> => {
    const next = running.then(() =>
      stopped
        ? undefined
        : work(arg).catch((err: unknown) => {
            onError(err);
            return undefined;
          }),
    );
    running = next;
    return next;
  };
  void round();
  const timer = setInterval(() => void round(), intervalMs);
  timer.unref();
  return {
    round,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
