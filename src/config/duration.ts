/**
 * Durations in config files: a whole number and one unit, `30s`, `10m`, `1h`, `2d`. Hand-written
 * rather than the `ms` package: `ms` also takes a bare number as milliseconds, fractions and
 * words ("1.5 hours"), none of which a reviewer of a config should have to read twice.
 */
import { z } from "zod";

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d)$/;

/** Milliseconds of `30s`, `10m`, `1h`, `2d`; undefined for anything else. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

/** `90000` -> `1m30s`: for messages. */
export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, seconds] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(rest / seconds);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * seconds;
  }
  return parts.join("") || "0s";
}

/** A duration between `min` and `max` milliseconds, as milliseconds; errors say the bounds in words. */
export function Duration(bounds: { min: number; max: number }) {
  return z.string({ error: "a duration like 30s, 10m, 1h or 2d" }).transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a duration like 30s, 10m, 1h or 2d` });
      return z.NEVER;
    }
    if (ms < bounds.min || ms > bounds.max) {
      ctx.addIssue({
        code: "custom",
        message: `${text} is out of bounds: from ${formatDuration(bounds.min)} to ${formatDuration(bounds.max)}`,
      });
      return z.NEVER;
    }
    return ms;
  });
}
