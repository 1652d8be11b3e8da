/**
 * One fetch of one mirror, under its lock file: clone it when absent, fetch it when sound, clone
 * it again (beside the old one, swapped in once complete) when damaged or when a fetch into it
 * fails for a reason that is the mirror's fault; then HEAD, `gc --auto` and the metadata.
 */
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { FileLock } from "./fileLock.ts";
import { asideName, dirSize, META_FILE, newMeta, readMeta, touch, writeMeta } from "./mirrorDisk.ts";
import { MirrorError } from "./mirrorErrors.ts";
import type { MirrorGit, MirrorLogLevel } from "./mirrorGit.ts";
import { MIRROR_REFSPECS } from "./mirrorRefs.ts";
import type { Target } from "./mirrorTarget.ts";
import { FULL_SHA as SHA } from "./sha.ts";

export interface SyncResult {
  /** Why the explicitly requested ids/refs could not be fetched, if they could not. */
  extrasError?: MirrorError;
}

export interface MirrorSyncOptions {
  lockWaitMs: number;
  lockStaleMs: number;
  log: (level: MirrorLogLevel, message: string) => void;
}

export class MirrorSync {
  readonly #git: MirrorGit;
  readonly #opts: MirrorSyncOptions;

  constructor(git: MirrorGit, opts: MirrorSyncOptions) {
    this.#git = git;
    this.#opts = opts;
  }

  /** Brings the mirror up to date with MIRROR_REFSPECS plus `extras` (commit ids, ref names). */
  async sync(t: Target, token: string | undefined, extras: string[]): Promise<SyncResult> {
    const started = Date.now();
    await mkdir(join(t.dir, ".."), { recursive: true });
    const lock = await FileLock.acquire(`${t.dir}.lock`, {
      waitMs: this.#opts.lockWaitMs,
      staleMs: this.#opts.lockStaleMs,
    });
    if (!lock)
      throw new MirrorError(
        "locked",
        t.fullName,
        `mirror of ${t.fullName} stayed locked by another process for ${this.#opts.lockWaitMs} ms (${t.dir}.lock)`,
      );
    try {
      await removeLeftovers(t);
      const { how, extrasError } = await this.#cloneOrFetch(t, token, extras);
      await this.#fixHead(t);
      await this.#git(t, ["gc", "--auto", "--quiet"], { long: true }).catch((err: unknown) => {
        this.#opts.log("warn", `git gc in the mirror of ${t.fullName}: ${String(err)}`);
      });
      await touch(t.dir);
      const meta = (await readMeta(t.dir)) ?? newMeta(t);
      meta.bytes = await dirSize(t.dir);
      meta.lastFetchAt = new Date().toISOString();
      meta.cloneUrl = t.cloneUrl;
      meta.fullName = t.fullName;
      await writeMeta(t.dir, meta);
      this.#opts.log("info", `mirror of ${t.fullName} ${how} in ${Date.now() - started} ms`);
      return extrasError ? { extrasError } : {};
    } finally {
      await lock.release();
    }
  }

  /** The refs (ids or names) that do not resolve to an object in the mirror. */
  async missingRefs(dir: string, refs: string[]): Promise<string[]> {
    if (refs.length === 0) return [];
    try {
      const out = await this.#git({ dir }, ["cat-file", "--batch-check"], { input: `${refs.join("\n")}\n` });
      const lines = out.split("\n");
      return refs.filter((_, i) => {
        const line = lines[i] ?? "";
        return line === "" || line.endsWith(" missing") || line.endsWith(" ambiguous");
      });
    } catch {
      return [...refs];
    }
  }

  async #cloneOrFetch(
    t: Target,
    token: string | undefined,
    extras: string[],
  ): Promise<{ how: string; extrasError: MirrorError | undefined }> {
    const damage = await this.#damage(t);
    if (damage === "absent") return { how: "cloned", extrasError: await this.#clone(t, token, extras) };
    if (damage) {
      this.#opts.log("warn", `mirror of ${t.fullName} is damaged (${damage}); cloning it again`);
      return { how: "re-cloned", extrasError: await this.#clone(t, token, extras) };
    }
    try {
      const extrasError = await this.#fetchAll(t, token, extras);
      const after = await this.#checkTips(t);
      if (after !== undefined) throw new MirrorError("git", t.fullName, after, after);
      return { how: "fetched", extrasError };
    } catch (err) {
      // Refused, unreachable or too slow: the mirror is not to blame, keep it.
      if (!(err instanceof MirrorError) || err.kind !== "git") throw err;
      this.#opts.log(
        "warn",
        `fetch into the mirror of ${t.fullName} failed (${err.detail ?? err.message}); cloning it again`,
      );
      return { how: "re-cloned", extrasError: await this.#clone(t, token, extras) };
    }
  }

  /** undefined when the mirror looks sound, "absent", or what is wrong with it. */
  async #damage(t: Target): Promise<string | undefined> {
    const info = await stat(t.dir).catch(() => undefined);
    if (!info) return "absent";
    if (!info.isDirectory()) return "not a directory";
    for (const part of ["HEAD", "config", "objects", "refs", META_FILE]) {
      if (!(await stat(join(t.dir, part)).catch(() => undefined))) return `${part} is missing`;
    }
    try {
      const bare = (await this.#git(t, ["rev-parse", "--is-bare-repository"])).trim();
      if (bare !== "true") return "not a bare repository";
      const url = (await this.#git(t, ["config", "--get", "remote.origin.url"]).catch(() => "")).trim();
      if (url !== t.cloneUrl) await this.#git(t, ["config", "remote.origin.url", t.cloneUrl]);
    } catch (err) {
      return err instanceof MirrorError ? (err.detail ?? err.message) : String(err);
    }
    return this.#checkTips(t);
  }

  /** Every ref's object must be there: a half-deleted object store shows up here. */
  async #checkTips(t: Target): Promise<string | undefined> {
    try {
      await this.#git(t, ["for-each-ref", "--format=%(objecttype)"]);
      return undefined;
    } catch (err) {
      return err instanceof MirrorError ? (err.detail ?? err.message) : String(err);
    }
  }

  /**
   * One `git fetch --prune`: MIRROR_REFSPECS, plus requested ids not yet here and refs outside
   * them. If one of those does not exist (which fails the whole command), the standard refs are
   * fetched alone and the extras one by one; the extras' failure is returned, not thrown.
   */
  async #fetchAll(t: Target, token: string | undefined, extras: string[]): Promise<MirrorError | undefined> {
    const shas = extras.filter((r) => SHA.test(r));
    const missingShas = shas.length > 0 ? await this.missingRefs(t.dir, shas) : [];
    const named = extras.filter((r) => !SHA.test(r)).map((r) => `+${r}:${r}`);
    const fetch = (specs: readonly string[], prune: boolean) =>
      this.#git(
        t,
        [
          "fetch",
          ...(prune ? ["--prune"] : []),
          "--no-tags",
          "--no-auto-gc",
          "--no-write-fetch-head",
          "--quiet",
          "origin",
          ...specs,
        ],
        { token, network: true },
      );
    const extraSpecs = [...missingShas, ...named];
    try {
      await fetch([...MIRROR_REFSPECS, ...extraSpecs], true);
      return undefined;
    } catch (err) {
      if (!(err instanceof MirrorError) || err.kind !== "ref-not-found" || extraSpecs.length === 0) throw err;
    }
    await fetch(MIRROR_REFSPECS, true);
    let first: MirrorError | undefined;
    for (const spec of extraSpecs) {
      if (SHA.test(spec) && (await this.missingRefs(t.dir, [spec])).length === 0) continue;
      try {
        await fetch([spec], false);
      } catch (err) {
        if (!(err instanceof MirrorError) || err.kind !== "ref-not-found") throw err;
        first ??= err;
      }
    }
    return first;
  }

  /** A new mirror, built beside the old one (if any) and swapped in only once complete. */
  async #clone(t: Target, token: string | undefined, extras: string[]): Promise<MirrorError | undefined> {
    const tmp = asideName(t.dir, "tmp");
    const at = { ...t, dir: tmp };
    try {
      await this.#git(at, ["init", "--bare", "--quiet", "--template="]);
      const config: [string, string][] = [
        ["remote.origin.url", t.cloneUrl],
        ["gc.autoDetach", "false"],
        ["core.logAllRefUpdates", "false"],
      ];
      for (const [key, value] of config) await this.#git(at, ["config", key, value]);
      for (const spec of MIRROR_REFSPECS)
        await this.#git(at, ["config", "--add", "remote.origin.fetch", spec]);
      const extrasError = await this.#fetchAll(at, token, extras);
      await writeMeta(tmp, newMeta(t));
      const old = await stat(t.dir).catch(() => undefined);
      if (old) {
        const trash = asideName(t.dir, "trash");
        await rename(t.dir, trash);
        await rename(tmp, t.dir);
        await rm(trash, { recursive: true, force: true });
      } else {
        await rename(tmp, t.dir);
      }
      return extrasError;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /** HEAD to the default branch when known, else to main/master/any branch if it dangles. */
  async #fixHead(t: Target): Promise<void> {
    const head = (await readFile(join(t.dir, "HEAD"), "utf8").catch(() => "")).trim();
    const current = head.startsWith("ref: ") ? head.slice(5) : undefined;
    const branches = (await this.#git(t, ["for-each-ref", "--format=%(refname)", "refs/heads/"]))
      .split("\n")
      .filter(Boolean);
    const wanted = t.source.defaultBranch ? `refs/heads/${t.source.defaultBranch}` : undefined;
    let target: string | undefined;
    if (wanted && branches.includes(wanted)) target = wanted;
    else if (!current || !branches.includes(current))
      target = ["refs/heads/main", "refs/heads/master"].find((b) => branches.includes(b)) ?? branches[0];
    if (target && target !== current) await this.#git(t, ["symbolic-ref", "HEAD", target]);
  }
}

/** Clones and deletions of this mirror left by processes that died (we hold its lock). */
async function removeLeftovers(t: Target): Promise<void> {
  const parent = join(t.dir, "..");
  const base = t.dir.slice(parent.length + 1);
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const m = new RegExp(`^${escapeRegExp(base)}\\.(tmp|trash)-(\\d+)-[0-9a-f]+$`).exec(name);
    if (m) await rm(join(parent, name), { recursive: true, force: true }).catch(() => {});
  }
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
