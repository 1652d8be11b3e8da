/** Small helpers shared by the benchmarks: timing summaries, sizes, tables. */
import { spawnSync } from "node:child_process";

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { n: 0, median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { n: s.length, median, min: s[0] as number, max: s[s.length - 1] as number };
}

export const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
export const fmtMs = (x: number) => `${ms(x)} ms`;
export const fmtS = (x: number) => `${(x / 1000).toFixed(x >= 100_000 ? 0 : 2)} s`;

export function fmtBytes(b: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = b;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return "-";
  return r >= 10 ? `${r.toFixed(0)}x` : r >= 0.1 ? `${r.toFixed(2)}x` : `${r.toPrecision(2)}x`;
}

/** Disk usage in bytes (allocated blocks, like `du -s -B1`). */
export function diskUsage(path: string): number {
  const r = spawnSync("du", ["-s", "-B1", path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`du ${path} failed: ${r.stderr}`);
  return Number(r.stdout.split("\t")[0]);
}

/** Markdown table with padded columns. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
