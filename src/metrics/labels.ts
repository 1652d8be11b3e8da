/**
 * Label values kept bounded: Prometheus keeps a series per label combination, and stack names come
 * from repositories (a pull request can name thousands). A value must look like a name (hosts file
 * and repo config names do), and each metric takes at most `maxSeries` combinations; the rest are
 * dropped and counted in `stackpilot_metrics_series_dropped_total{metric}`.
 */

/** Names from the hosts file and repo config; SHAs and free text never reach a label. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function isLabelName(value: string): boolean {
  return NAME.test(value);
}

export class SeriesCap {
  readonly #max: number;
  readonly #seen = new Map<string, Set<string>>();
  readonly #onDrop: (metric: string) => void;

  constructor(max: number, onDrop: (metric: string) => void) {
    this.#max = max;
    this.#onDrop = onDrop;
  }

  /** Whether this metric may have a series with these label values (it is counted from now on). */
  admit(metric: string, values: readonly string[]): boolean {
    if (!values.every(isLabelName)) return this.#drop(metric);
    const seen = this.#seen.get(metric) ?? new Set<string>();
    this.#seen.set(metric, seen);
    const key = values.join("\0");
    if (seen.has(key)) return true;
    if (seen.size >= this.#max) return this.#drop(metric);
    seen.add(key);
    return true;
  }

  /** The series is gone (its gauge was reset): its place is free again. */
  release(metric: string, values: readonly string[]): void {
    this.#seen.get(metric)?.delete(values.join("\0"));
  }

  /** Every series of the metric is gone. */
  releaseAll(metric: string): void {
    this.#seen.delete(metric);
  }

  #drop(metric: string): false {
    this.#onDrop(metric);
    return false;
  }
}

/**
 * A reading from the database kept for the next scrape: a scrape never waits for the database (a
 * deploy storm can keep it busy); it reads the last value and, when that is older than `maxAgeMs`,
 * starts one refresh in the background. A failed refresh keeps the last value.
 */
export class CachedReading<T> {
  readonly #read: () => Promise<T>;
  readonly #maxAgeMs: number;
  readonly #onError: (err: unknown) => void;
  #value: T | undefined;
  #at = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;

  constructor(read: () => Promise<T>, opts: { maxAgeMs: number; onError?: (err: unknown) => void }) {
    this.#read = read;
    this.#maxAgeMs = opts.maxAgeMs;
    this.#onError = opts.onError ?? (() => {});
  }

  /** The last value read (undefined before the first read ends); refreshes it when stale. */
  latest(): T | undefined {
    if (performance.now() - this.#at > this.#maxAgeMs) void this.refresh();
    return this.#value;
  }

  /** Reads now (one read at a time); resolves when it ended, whether or not it failed. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#read()
      .then(
        (value) => {
          this.#value = value;
          this.#at = performance.now();
        },
        (err: unknown) => {
          // Tried again at the next scrape, not at every one in between.
          this.#at = performance.now();
          this.#onError(err);
        },
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }
}
