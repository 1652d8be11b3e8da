/**
 * A mirror's records on disk beside git's own files: its metadata (name, clone URL, size) and its
 * last use (a file's mtime), plus the directory walks the cache needs.
 */

import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import { lstat, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Target } from "./mirrorTarget.ts";

export const META_FILE = "stackpilot-mirror.json";
/** Its mtime is the mirror's last use: utimes() is atomic, so uses never race a fetch's metadata write. */
const LAST_USE_FILE = "stackpilot-last-use";

export interface MirrorMeta {
  version: 1;
  fullName: string;
  cloneUrl: string;
  createdAt: string;
  lastFetchAt?: string;
  bytes?: number;
}

let clock = 0;
/** Strictly increasing, so two uses in one millisecond still have an order. */
function now(): number {
  clock = Math.max(Date.now(), clock + 1);
  return clock;
}

/** Records a use of the mirror (no-op if it is gone). */
export async function touch(dir: string): Promise<void> {
  const file = join(dir, LAST_USE_FILE);
  const at = now() / 1000;
  try {
    await utimes(file, at, at);
  } catch {
    if (!(await stat(join(dir, META_FILE)).catch(() => undefined))) return;
    await writeFile(file, "")
      .then(() => utimes(file, at, at))
      .catch(() => {});
  }
}

/** ms since the epoch; a mirror without a use record counts as used when its directory last changed. */
export async function lastUse(dir: string): Promise<number> {
  const info =
    (await stat(join(dir, LAST_USE_FILE)).catch(() => undefined)) ?? (await stat(dir).catch(() => undefined));
  return info?.mtimeMs ?? 0;
}

export function newMeta(t: Target): MirrorMeta {
  return {
    version: 1,
    fullName: t.fullName,
    cloneUrl: t.cloneUrl,
    createdAt: new Date().toISOString(),
  };
}

export async function readMeta(dir: string): Promise<MirrorMeta | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, META_FILE), "utf8")) as MirrorMeta;
    return meta && typeof meta === "object" && meta.version === 1 ? meta : undefined;
  } catch {
    return undefined;
  }
}

export async function writeMeta(dir: string, meta: MirrorMeta): Promise<void> {
  const tmp = join(dir, `${META_FILE}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`);
  await writeFile(tmp, `${JSON.stringify(meta, null, 2)}\n`);
  await rename(tmp, join(dir, META_FILE)).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

/** `<dir>.tmp-<pid>-<hex>` / `<dir>.trash-<pid>-<hex>`: a clone being built, a mirror being deleted. */
export const asideName = (dir: string, kind: "tmp" | "trash"): string =>
  `${dir}.${kind}-${process.pid}-${randomBytes(4).toString("hex")}`;

export async function subdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** Bytes allocated on disk under `dir`. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const stack = [dir];
  for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        const st = await lstat(p).catch(() => undefined);
        if (st) total += st.blocks > 0 ? st.blocks * 512 : st.size;
      }
    }
  }
  return total;
}
