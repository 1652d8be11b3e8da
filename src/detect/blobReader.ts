/**
 * Blobs a snapshot reads (config and compose files), through one repository and within the size
 * limit: a file over it is sized by git, never read, and becomes a problem at its first line.
 */
import type { Problem } from "../config/problems.ts";
import type { BlobSource } from "./mounted.ts";

/** Bounds on what a snapshot reads from the repository; set server side, never by a repository. */
export interface ParseLimits {
  /** Config, compose and other files Stackpilot parses: larger ones are a problem and never read. */
  maxFileBytes: number;
}
export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxFileBytes: 1024 * 1024 };

/** The limits set for this process (`STACKPILOT_MAX_FILE_BYTES`), else the defaults. */
export function parseLimitsFrom(env: NodeJS.ProcessEnv = process.env): ParseLimits {
  const bytes = Number(env.STACKPILOT_MAX_FILE_BYTES);
  return Number.isSafeInteger(bytes) && bytes > 0 ? { maxFileBytes: bytes } : DEFAULT_PARSE_LIMITS;
}

/**
 * Blob texts read through one repo, remembering ids that could not be read (submodules) and
 * those over the size limit (sized, never read).
 */
export class BlobReader {
  readonly blobs = new Map<string, string>();
  readonly asked = new Set<string>();
  readonly tooLarge = new Map<string, number>();
  readonly #repo: BlobSource;
  readonly #limits: ParseLimits;
  constructor(repo: BlobSource, limits: ParseLimits) {
    this.#repo = repo;
    this.#limits = limits;
  }
  async read(oids: Iterable<string>): Promise<void> {
    const missing = [...oids].filter((o) => !this.asked.has(o));
    for (const o of missing) this.asked.add(o);
    const { blobs, tooLarge } = await this.#repo.readBlobsWithin(missing, this.#limits.maxFileBytes);
    for (const [oid, buf] of blobs) this.blobs.set(oid, buf.toString("utf8"));
    for (const [oid, size] of tooLarge) this.tooLarge.set(oid, size);
  }
  /** Asked for and not there: absent (a submodule), as opposed to read or too large. */
  absent(oid: string): boolean {
    return this.asked.has(oid) && !this.blobs.has(oid) && !this.tooLarge.has(oid);
  }
  /** The problem of a file over the limit, at `path:1:1`; undefined when it is within. */
  oversize(path: string, oid: string): Problem | undefined {
    const size = this.tooLarge.get(oid);
    if (size === undefined) return undefined;
    const message = `is ${formatBytes(size)}, over the ${formatBytes(this.#limits.maxFileBytes)} limit for files Stackpilot parses`;
    return { file: path, line: 1, col: 1, key: "", message, severity: "error" };
  }
}

function formatBytes(n: number): string {
  const [value, unit] =
    n >= 1024 * 1024 ? [n / (1024 * 1024), "MB"] : n >= 1024 ? [n / 1024, "KB"] : [n, "bytes"];
  return `${Number(value.toFixed(1))} ${unit}`;
}
