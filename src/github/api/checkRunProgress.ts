/**
 * A check run kept up to date while a deploy goes on: `changed()` after each step, `finish()` at
 * the end.
 * - At most one update in flight; changes while one is in flight collapse into one update that
 *   reads the state when it starts. Octokit paces writes at one a second, so 50 hosts finishing
 *   together cost a few requests instead of a 50-second queue.
 * - A state GitHub already accepted is not sent again: the last host's update usually carries the
 *   final state, and `finish()` then sends nothing.
 * - A failed intermediate update is only logged: the next one carries the newer state anyway.
 * - The final update is what GitHub goes on showing, so it is tried again (after Octokit's own
 *   retries) before giving up; a check run left "in progress" would never be fixed by anyone.
 */
export interface ProgressOptions<R> {
  /** The request for the current state (called when an update starts, so it is never stale). */
  render(): R;
  /** Sends a request `render` made. */
  send(request: R): Promise<unknown>;
  log: { warn(msg: string): void };
  /** Attempts of the final update. */
  finalAttempts?: number;
  /** Wait between them. */
  retryDelayMs?: number;
}

export interface Progress {
  changed(): void;
  /** Waits for the update in flight, then sends the final state unless GitHub has it; false when it could not. */
  finish(): Promise<boolean>;
}

export function checkRunProgress<R>(opts: ProgressOptions<R>): Progress {
  let inFlight: Promise<void> | undefined;
  let again = false;
  /** The last request GitHub accepted, as JSON. */
  let accepted: string | undefined;
  /** Sends the current state unless it is the accepted one; throws what `send` throws. */
  const update = async (): Promise<void> => {
    const request = opts.render();
    const key = JSON.stringify(request);
    if (key === accepted) return;
    await opts.send(request);
    accepted = key;
  };
  const run = async (): Promise<void> => {
    do {
      again = false;
      try {
        await update();
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
          await update();
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
