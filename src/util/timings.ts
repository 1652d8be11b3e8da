/** Step timings for a deploy or a build result: `time("upload", fn)` records fn's milliseconds. */
export function stepTimer(): {
  timings: Record<string, number>;
  time: <T>(step: string, fn: () => Promise<T>) => Promise<T>;
} {
  const timings: Record<string, number> = {};
  return {
    timings,
    async time(step, fn) {
      const t0 = performance.now();
      try {
        return await fn();
      } finally {
        timings[step] = Math.round(performance.now() - t0);
      }
    },
  };
}
