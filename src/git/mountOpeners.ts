/**
 * Where mounted repositories come from. The App's: a mirror of each, fetched from the configured
 * GitHub with the installation token of the repository planned (the token goes to that origin
 * only: any other URL is refused first, submoduleTarget.ts). The CLI's: the checkout's own git
 * data (`.git/modules/<name>`, as `git submodule update` left it) and `--source NAME=DIR` clones.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { SourceConfig } from "../config/repoConfigSchema.ts";
import { MirrorError } from "./mirrorErrors.ts";
import { type MountOpener, MountUnavailable, type SubmoduleRef } from "./mounts.ts";
import { short } from "./range.ts";
import { GitRepo } from "./repo.ts";
import { FULL_SHA } from "./sha.ts";
import { type CloneTarget, sourceTarget, submoduleTarget } from "./submoduleUrl.ts";

/** What the opener needs of MirrorCache (mirror.ts). */
export interface MirrorEnsure {
  ensure(
    repo: { cloneUrl: string; fullName: string },
    opts: { token?: string; refs?: string[] },
  ): Promise<GitRepo>;
}

export class MirrorMountOpener implements MountOpener {
  readonly #mirrors: MirrorEnsure;
  readonly #token: () => Promise<string | undefined>;
  readonly #origin: string;
  #tokenOnce: Promise<string | undefined> | undefined;

  /**
   * @param token the installation token, asked for once a repository is to be fetched
   * @param origin the configured GitHub (`githubHost().origin`), the one origin fetched from
   */
  constructor(mirrors: MirrorEnsure, opts: { token: () => Promise<string | undefined>; origin: string }) {
    this.#mirrors = mirrors;
    this.#token = opts.token;
    this.#origin = opts.origin;
  }

  async submodule(sub: SubmoduleRef) {
    const target = submoduleTarget(sub.url, sub.parent.url, this.#origin);
    const what = `submodule ${sub.path}`;
    if ("refused" in target) throw new MountUnavailable(`${what}: ${target.refused}`);
    const repo = await this.#open(target, [sub.commit], `${what} (${target.fullName})`, sub.commit);
    return { repo, url: target.cloneUrl, repository: target.fullName };
  }

  async source(name: string, source: SourceConfig, pinned?: string) {
    const target = sourceTarget(source.repository, this.#origin);
    const what = `source ${name}`;
    if ("refused" in target) throw new MountUnavailable(`${what}: ${target.refused}`);
    const who = `${what} (${target.fullName})`;
    const ref = source.ref;
    if (ref && FULL_SHA.test(ref)) {
      const repo = await this.#open(target, [ref], who, ref);
      return { repo, commit: ref, repository: target.fullName };
    }
    if (pinned) {
      // What an earlier plan read: present unless force-pushed away, then the ref as it is now.
      const repo = await this.#open(target, [pinned], who, pinned).catch(() => undefined);
      if (repo) return { repo, commit: pinned, repository: target.fullName };
    }
    // No ids asked for: the mirror is fetched, so the ref is read as it is now.
    const repo = await this.#open(target, [], who);
    const commit = await refCommit(repo, ref);
    if (!commit) throw new MountUnavailable(`${who}: no branch or tag ${ref ?? "main or master"}`);
    return { repo, commit, repository: target.fullName };
  }

  async #open(
    target: Exclude<CloneTarget, { refused: string }>,
    refs: string[],
    who: string,
    commit?: string,
  ): Promise<GitRepo> {
    this.#tokenOnce ??= this.#token();
    const token = await this.#tokenOnce;
    try {
      return await this.#mirrors.ensure(target, { ...(token ? { token } : {}), refs });
    } catch (err) {
      if (!(err instanceof MirrorError)) throw err;
      if (err.kind === "ref-not-found" && commit)
        throw new MountUnavailable(
          `${who} points at ${short(commit)}, which ${target.fullName} does not have (force-pushed away?)`,
        );
      if (err.kind === "auth" || err.kind === "not-found" || err.kind === "invalid")
        throw new MountUnavailable(`${who} cannot be read by the App: ${err.message}`);
      throw err;
    }
  }
}

/** A branch, else a tag, of that name; without a name the default branch (HEAD, main, master). */
async function refCommit(repo: GitRepo, ref: string | undefined): Promise<string | undefined> {
  const candidates = ref
    ? [`refs/heads/${ref}`, `refs/tags/${ref}`]
    : ["HEAD", "refs/heads/main", "refs/heads/master"];
  for (const c of candidates) {
    const commit = await repo.resolveCommit(c);
    if (commit) return commit;
  }
  return undefined;
}

export class CheckoutMountOpener implements MountOpener {
  readonly #sources: ReadonlyMap<string, string>;
  readonly #gitDirs = new Map<string, Promise<string | undefined>>();
  /** `<git dir>\0<commit>` found present: a commit once there stays (a warm plan asks again). */
  readonly #present = new Set<string>();

  /** @param sources source name -> a local clone of it (`--source NAME=DIR`) */
  constructor(sources: ReadonlyMap<string, string> = new Map()) {
    this.#sources = sources;
  }

  async submodule(sub: SubmoduleRef) {
    const fetch = `git submodule update --init${sub.top === sub.path ? "" : " --recursive"} ${sub.top}`;
    const parentDir = await this.#gitDirOf(sub.parent.repo);
    const gitDir = parentDir && join(parentDir, "modules", sub.name);
    if (!gitDir || !(await stat(join(gitDir, "HEAD")).catch(() => undefined)))
      throw new MountUnavailable(`submodule ${sub.path} is not checked out: run \`${fetch}\``);
    const repo = new GitRepo(gitDir, { gitDir: true });
    if (!(await this.#has(repo, sub.commit)))
      throw new MountUnavailable(
        `submodule ${sub.path} points at ${short(sub.commit)}, which its clone (${gitDir}) does not have: run \`${fetch}\``,
      );
    return { repo, url: undefined, repository: sub.url };
  }

  async source(name: string, source: SourceConfig, pinned?: string) {
    const dir = this.#sources.get(name);
    if (!dir)
      throw new MountUnavailable(
        `source ${name} (${source.repository}): pass --source ${name}=DIR, a local clone of it, to plan with its files`,
      );
    const checkout = new GitRepo(dir);
    const gitDir = await this.#gitDirOf(checkout);
    // Its git directory, as every mount is read (the checkout's files are not what is planned).
    const repo = gitDir ? new GitRepo(gitDir, { gitDir: true }) : undefined;
    // What an earlier plan (or the other end) read, when the clone has it: HEAD is not asked again.
    if (repo && pinned && (await this.#has(repo, pinned)))
      return { repo, commit: pinned, repository: source.repository };
    const commit =
      (await checkedOutCommit(dir)) ?? (await checkout.resolveCommit("HEAD").catch(() => undefined));
    if (!commit || !repo)
      throw new MountUnavailable(`--source ${name}=${dir}: not a git repository with a commit checked out`);
    this.#present.add(`${repo.dir}\0${commit}`);
    return { repo, commit, repository: source.repository };
  }

  /** Whether a clone has a commit; a commit once there stays (a warm plan asks again). */
  async #has(repo: GitRepo, commit: string): Promise<boolean> {
    const key = `${repo.dir}\0${commit}`;
    if (!this.#present.has(key) && (await repo.resolveCommit(commit).catch(() => undefined)))
      this.#present.add(key);
    return this.#present.has(key);
  }

  /** Where a repository keeps its submodules' clones (`<git dir>/modules/`). */
  #gitDirOf(repo: GitRepo): Promise<string | undefined> {
    let dir = this.#gitDirs.get(repo.dir);
    if (!dir) {
      dir = repo.commonGitDir().catch(() => undefined);
      this.#gitDirs.set(repo.dir, dir);
    }
    return dir;
  }
}

/**
 * The commit a plain clone has checked out, read from its files (`.git/HEAD`, the branch's loose
 * ref or `packed-refs`) without spawning git: a source clone is asked on every plan, and a spawn
 * is most of a warm plan's cost. Undefined for anything less plain (a worktree's `.git` file,
 * reftable, a symbolic chain): the caller asks git then.
 */
export async function checkedOutCommit(dir: string): Promise<string | undefined> {
  const gitDir = join(dir, ".git");
  const read = (path: string) => readFile(join(gitDir, path), "utf8").catch(() => undefined);
  const head = (await read("HEAD"))?.trim();
  if (!head) return undefined;
  if (FULL_SHA.test(head)) return head;
  const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
  if (!ref || ref.includes("..")) return undefined;
  const loose = (await read(ref))?.trim();
  if (loose !== undefined) return FULL_SHA.test(loose) ? loose : undefined;
  const packed = await read("packed-refs");
  for (const line of packed?.split("\n") ?? []) {
    const [sha, name] = line.split(" ");
    if (name === ref && sha && FULL_SHA.test(sha)) return sha;
  }
  return undefined;
}
