/**
 * A check run kept up to date while a deploy goes on: `changed()` after each step, `finish()` at
 * the end.
 * - At most one update in flight; changes while one is in flight collapse into one update that
 *   reads the state when it starts. Octokit paces writes at one a second, so 50 hosts finishing
 *   together cost a few requests instead of a 50-second queue.
 * - A failed intermediate update is only logged: the next one carries the newer state anyway.
 * - The final update is what GitHub goes on showing, so it is tried again (after Octokit's own
 *   retries) before giving up; a check run left "in progress" would never be fixed by anyone.
 */
export interface ProgressOptions {
  /** Sends the current state (builds the request when called, so it is never stale). */
  send(): Promise<unknown>;
  log: { warn(msg: string): void };
  /** Attempts of the final update. */
  finalAttempts?: number;
  /** Wait between them. */
  retryDelayMs?: number;
}

export interface Progress {
  changed(): void;
  /** Waits for the update in flight, then sends the final state; false when it could not. */
  finish(): Promise<boolean>;
}

export function checkRunProgress(opts: ProgressOptions): Progress {
  let inFlight: Promise<void> | undefined;
  let again = false;
  const run = async (): Promise<void> => {
    do {
      again = false;
      try {
        await opts.send();
      } catch (err) {
        opts.log.warn(`check run update failed: ${(err as Error).message}`);
      }
    } while (again);
    inFlight = undefined;
  };
  return {
    changed() {
      if (inFlight) again = true;
      else inFlight = run();
    },
    async finish() {
      while (inFlight) await inFlight;
      const attempts = opts.finalAttempts ?? 3;
      for (let i = 1; ; i++) {
        try {
          await opts.send();
          return true;
        } catch (err) {
          const last = i >= attempts;
          opts.log.warn(
            `final check run update failed (attempt ${i} of ${attempts}): ${(err as Error).message}${last ? "" : "; trying again"}`,
          );
          if (last) return false;
          await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 5_000));
        }
      }
    },
  };
}
