/** Medians, formatting and a markdown table for the deploy benchmark (self-contained on purpose). */
import { readFileSync } from "node:fs";

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const max = (xs: readonly number[]): number => (xs.length ? Math.max(...xs) : Number.NaN);
export const min = (xs: readonly number[]): number => (xs.length ? Math.min(...xs) : Number.NaN);
export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return "-";
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x >= 100 ? 0 : 1)} ms`;
}

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return "-";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "-";
  return r >= 100 ? `${r.toFixed(0)}x` : r >= 0.1 ? `${r.toFixed(2)}x` : `${r.toPrecision(2)}x`;
}

/** `1.23 s (1.10-1.40)`: median with the range, for samples. */
export function fmtSample(xs: readonly number[]): string {
  return xs.length > 1 ? `${fmtMs(median(xs))} (${fmtMs(min(xs))}-${fmtMs(max(xs))})` : fmtMs(median(xs));
}

/** Markdown table with padded columns. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

/** Busy CPU time of the whole machine so far (all cores, ms), from /proc/stat. */
export function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy * (1000 / 100); // USER_HZ
}

/** CPU time of this process so far (user + system, ms). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
