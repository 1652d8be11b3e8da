/**
 * A lock file shared by the processes that use one directory: created with O_EXCL, holding the
 * owner's pid, host and a random id. A lock is stale, and may be taken over, when its pid no
 * longer runs on this host, or when its holder has not refreshed it for `staleMs` (the holder
 * touches it every staleMs/3, so only a dead or frozen holder, or one on another host that died,
 * gets there).
 */
import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink, utimes } from "node:fs/promises";
import { hostname } from "node:os";

export interface FileLockOptions {
  /** Give up after this long; 0 tries once. */
  waitMs: number;
  /** A lock not refreshed for this long is stale. */
  staleMs: number;
}

interface LockContent {
  pid: number;
  host: string;
  id: string;
  at: string;
}

export class FileLock {
  readonly path: string;
  readonly #id: string;
  readonly #timer: NodeJS.Timeout;
  #released = false;

  private constructor(path: string, id: string, staleMs: number) {
    this.path = path;
    this.#id = id;
    this.#timer = setInterval(
      () => {
        const now = new Date();
        utimes(path, now, now).catch(() => {});
      },
      Math.max(50, Math.floor(staleMs / 3)),
    );
    this.#timer.unref();
  }

  /** The lock, or undefined when another live holder kept it for all of `waitMs`. */
  static async acquire(path: string, opts: FileLockOptions): Promise<FileLock | undefined> {
    const id = randomBytes(8).toString("hex");
    const deadline = Date.now() + opts.waitMs;
    let pause = 25;
    for (;;) {
      if (await tryCreate(path, id)) return new FileLock(path, id, opts.staleMs);
      if (await reclaimIfStale(path, opts.staleMs)) continue;
      if (Date.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, deadline - Date.now()))));
      pause = Math.min(pause * 2, 500);
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    const content = await readContent(this.path);
    if (content?.id === this.#id) await unlink(this.path).catch(() => {});
  }
}

async function tryCreate(path: string, id: string): Promise<boolean> {
  const content: LockContent = { pid: process.pid, host: hostname(), id, at: new Date().toISOString() };
  try {
    const handle = await open(path, "wx");
    try {
      await handle.writeFile(JSON.stringify(content));
    } finally {
      await handle.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

async function readContent(path: string): Promise<LockContent | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, "utf8")) as Partial<LockContent>;
    if (typeof parsed.pid !== "number" || typeof parsed.id !== "string") return undefined;
    return { pid: parsed.pid, host: String(parsed.host ?? ""), id: parsed.id, at: String(parsed.at ?? "") };
  } catch {
    return undefined;
  }
}

/**
 * Takes a stale lock file out of the way. Renaming it aside first means two processes that both
 * judged it stale cannot both delete it and then each create their own: only one rename wins,
 * and a loser that moved a fresh lock by mistake puts it back.
 */
async function reclaimIfStale(path: string, staleMs: number): Promise<boolean> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch {
    return true; // gone meanwhile: try again at once
  }
  const content = await readContent(path);
  const age = Date.now() - info.mtimeMs;
  // A lock file still being written has no content yet: give its writer a moment.
  if (!content && age < 1000) return false;
  const dead = content !== undefined && content.host === hostname() && !isAlive(content.pid);
  if (!dead && age < staleMs && content !== undefined) return false;
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch (err) {
    // ENOENT: someone else moved it first, look again. Anything else: wait like for a live lock.
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
  const moved = await readContent(aside);
  if (moved && content && moved.id !== content.id) {
    // Someone reclaimed it and took it between our read and our rename: give it back.
    await link(aside, path).catch(() => {});
  }
  await unlink(aside).catch(() => {});
  return true;
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
