/**
 * Read-only access to a local git repository (a checkout or a bare mirror): trees, diffs and blobs.
 * Everything the planner knows about the repo comes through here.
 */
import { Limiter } from "../util/limiter.ts";
import { GitProcessError, type GitRunOptions, LOCAL_TIMEOUT_MS, runGit, streamGit } from "./gitProcess.ts";

/** git's id of the empty tree: the base of a branch's first push when no merge base exists. */
export const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
export const ZERO_SHA = /^0{40}$|^0{64}$/;

export interface TreeEntry {
  /** `100644`, `100755`, `120000` (symlink) or `160000` (submodule). */
  mode: string;
  oid: string;
}
/** path -> entry, for every blob, symlink and submodule of a commit. */
export type Tree = ReadonlyMap<string, TreeEntry>;

export type ChangeStatus = "A" | "M" | "D" | "R" | "C" | "T";
export interface Change {
  status: ChangeStatus;
  path: string;
  /** Source path of a rename or copy. */
  oldPath?: string;
  oldMode: string;
  newMode: string;
  oldOid: string;
  newOid: string;
}

export const MODE_SYMLINK = "120000";
export const MODE_SUBMODULE = "160000";

export interface GitRepoOptions {
  /** Limit of each git process; every call is local. Default LOCAL_TIMEOUT_MS (2 minutes). */
  timeoutMs?: number;
  /** The git executable. Default `git` from PATH. */
  git?: string;
  /**
   * `dir` is a git directory (a mirror, a submodule's clone in `.git/modules/`, a common dir):
   * git is pointed at it alone, never at a work tree its config names (which may be gone).
   */
  gitDir?: boolean;
}

/** Output of a one-line answer (a commit id, a URL): more is not an answer. */
const ONE_LINE = 64 * 1024;

export class GitRepo {
  readonly dir: string;
  readonly #opts: { timeoutMs: number; bin: string; gitDir: boolean };
  /** Processes at once per repository for the small calls (readBlobs is one process of its own). */
  readonly #limiter = new Limiter(4);

  constructor(dir: string, opts: GitRepoOptions = {}) {
    this.dir = dir;
    this.#opts = {
      timeoutMs: opts.timeoutMs ?? LOCAL_TIMEOUT_MS,
      bin: opts.git ?? "git",
      gitDir: !!opts.gitDir,
    };
  }

  /** Full SHA of a commit-ish, or undefined when it does not exist here. */
  async resolveCommit(ref: string): Promise<string | undefined> {
    const args = ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`];
    return this.#line(args);
  }

  /** The commit each branch (`main`, not `refs/heads/main`) points at; a missing one is left out. One process. */
  async branchTips(branches: readonly string[]): Promise<Map<string, string>> {
    const refs = branches.map((b) => `refs/heads/${b}`);
    // Every argument starts with refs/heads/, so none can pass for an option.
    const out = await this.#text(["for-each-ref", "--format=%(refname) %(objectname)", ...refs]);
    const tips = new Map<string, string>();
    for (const line of out.split("\n")) {
      const [ref, sha] = line.split(" ");
      if (ref && sha && refs.includes(ref)) tips.set(ref.slice("refs/heads/".length), sha);
    }
    return tips;
  }

  /** `git merge-base --is-ancestor`: its exit status 1 means no. */
  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const args = ["merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant];
    const out = await answer(this.#run(args, { okCodes: [0, 1] }));
    return out?.code === 0;
  }

  async mergeBase(a: string, b: string): Promise<string | undefined> {
    return this.#line(["merge-base", "--end-of-options", a, b]);
  }

  /**
   * `git diff --raw -M` between two commits (or the empty tree): like `--name-status`, plus modes
   * and blob ids, so mode changes and submodule pointer moves are seen and the base tree can be
   * derived from the head tree without listing it again.
   */
  async diff(base: string, head: string): Promise<Change[]> {
    const args = [
      "diff",
      "--raw",
      "-z",
      "-M",
      "--no-abbrev",
      "--no-ext-diff",
      "--end-of-options",
      base,
      head,
      "--",
    ];
    return parseRawDiff(await this.#text(args));
  }

  /** Every entry of a commit's tree, recursively. */
  async lsTree(commit: string): Promise<Tree> {
    return parseLsTree(await this.#text(["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", commit]));
  }

  /**
   * The entries at exactly these paths of a commit's tree (a directory is one `040000` entry),
   * without listing the rest: one `git ls-tree`.
   */
  async entries(commit: string, paths: readonly string[]): Promise<Tree> {
    if (paths.length === 0) return new Map();
    const specs = paths.map((p) => `:(literal)${p}`);
    return parseLsTree(
      await this.#text(["ls-tree", "-z", "--full-tree", "--end-of-options", commit, "--", ...specs]),
    );
  }

  /** `key -> value` of a git-config-format blob (`.gitmodules`), parsed by git itself. */
  async configBlob(oid: string, maxBytes = 1024 * 1024): Promise<[string, string][]> {
    const out = await this.#run(["config", "--blob", oid, "--list", "-z"], { maxOutputBytes: maxBytes });
    return out.stdout
      .toString()
      .split("\0")
      .filter(Boolean)
      .map((item) => {
        const nl = item.indexOf("\n");
        return nl < 0 ? [item, ""] : [item.slice(0, nl), item.slice(nl + 1)];
      });
  }

  /** The absolute git directory shared by the checkout's worktrees (where `modules/` lives). */
  async commonGitDir(): Promise<string | undefined> {
    return this.#line(["rev-parse", "--path-format=absolute", "--git-common-dir"]);
  }

  /** `remote.origin.url`, if the repository has one. */
  async originUrl(): Promise<string | undefined> {
    return this.#line(["config", "--get", "remote.origin.url"]);
  }

  /** Blob contents by id, in one `git cat-file` process. Missing ids are absent from the map. */
  async readBlobs(oids: Iterable<string>): Promise<Map<string, Buffer>> {
    return (await this.readBlobsWithin(oids, Number.POSITIVE_INFINITY)).blobs;
  }

  /**
   * Blob contents by id, except blobs over `maxBytes`, which are only sized (never read into
   * memory): one `git cat-file --batch-command` process asked `info` for every id first, then
   * `contents` for those within the limit. Missing ids are in neither map.
   */
  async readBlobsWithin(
    oids: Iterable<string>,
    maxBytes: number,
  ): Promise<{ blobs: Map<string, Buffer>; tooLarge: Map<string, number> }> {
    const wanted = [...new Set(oids)];
    const blobs = new Map<string, Buffer>();
    const tooLarge = new Map<string, number>();
    if (wanted.length === 0) return { blobs, tooLarge };
    // The one git runner: its own process group, killed at the timeout (which also ends `done`).
    const git = streamGit(["cat-file", "--batch-command"], {
      ...this.#where(),
      bin: this.#opts.bin,
      timeoutMs: this.#opts.timeoutMs,
      stdin: true,
    });
    const stdin = git.stdin as NodeJS.WritableStream & { destroy(): void };
    const out = new BatchOutput(git.stdout);
    stdin.on("error", () => {}); // git exiting early: its exit status tells why
    try {
      stdin.write(wanted.map((oid) => `info ${oid}\n`).join(""));
      const within: string[] = [];
      for (const oid of wanted) {
        const size = parseBatchHeader(await out.line(git.done));
        if (size === undefined) continue;
        if (size > maxBytes) tooLarge.set(oid, size);
        else within.push(oid);
      }
      stdin.end(within.map((oid) => `contents ${oid}\n`).join(""));
      for (const oid of within) {
        const size = parseBatchHeader(await out.line(git.done));
        if (size !== undefined) blobs.set(oid, (await out.bytes(size + 1, git.done)).subarray(0, size));
      }
    } finally {
      stdin.destroy();
    }
    await git.done;
    return { blobs, tooLarge };
  }

  #run(args: string[], opts: Omit<GitRunOptions, "cwd" | "bin" | "timeoutMs"> = {}) {
    return this.#limiter.run(() =>
      runGit(args, { ...opts, ...this.#where(), bin: this.#opts.bin, timeoutMs: this.#opts.timeoutMs }),
    );
  }

  /** Where git runs: in the checkout, or on the git directory alone. */
  #where(): { cwd: string; gitDir?: string; workTree?: string } {
    return this.#opts.gitDir ? { cwd: this.dir, gitDir: this.dir, workTree: this.dir } : { cwd: this.dir };
  }

  async #text(args: string[]): Promise<string> {
    return (await this.#run(args)).stdout.toString();
  }

  /** A one-line answer, or undefined when git says there is none. */
  async #line(args: string[]): Promise<string | undefined> {
    const out = await answer(this.#run(args, { maxOutputBytes: ONE_LINE }));
    return out?.stdout.toString().trim() || undefined;
  }
}

/** The size in `<oid> <type> <size>`, or undefined for `<oid> missing`. */
function parseBatchHeader(header: string): number | undefined {
  if (header.endsWith(" missing")) return undefined;
  return Number(header.split(" ")[2]);
}

/** `git cat-file` output read as it arrives: a line, or a number of bytes. */
class BatchOutput {
  #buf: Buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #ended = false;

  constructor(stream: NodeJS.ReadableStream) {
    stream.on("data", (c: Buffer) => {
      this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
      this.#wake();
    });
    stream.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  async line(failed: Promise<void>): Promise<string> {
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0)
        return this.#take(nl + 1)
          .subarray(0, nl)
          .toString();
      await this.#more(failed);
    }
  }

  async bytes(n: number, failed: Promise<void>): Promise<Buffer> {
    while (this.#buf.length < n) await this.#more(failed);
    return this.#take(n);
  }

  #take(n: number): Buffer {
    const head = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return head;
  }

  #more(failed: Promise<void>): Promise<void> {
    if (this.#ended) return failed.then(() => Promise.reject(new Error("git cat-file output ended early")));
    return Promise.race([new Promise<void>((r) => (this.#waiting = r)), failed]);
  }

  #wake(): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }
}

/**
 * A question git answers "no" to by failing (an unknown ref, no merge base, an unset key): such
 * a failure is undefined; a timeout or a git that cannot start is still an error.
 */
async function answer<T>(run: Promise<T>): Promise<T | undefined> {
  try {
    return await run;
  } catch (err) {
    if (err instanceof GitProcessError && err.reason === "exit") return undefined;
    throw err;
  }
}

export function parseRawDiff(out: string): Change[] {
  const fields = out.split("\0");
  const changes: Change[] = [];
  for (let i = 0; i < fields.length; ) {
    const meta = fields[i++];
    if (!meta?.startsWith(":")) continue;
    const [oldMode, newMode, oldOid, newOid, statusField] = meta.slice(1).split(" ") as [
      string,
      string,
      string,
      string,
      string,
    ];
    const status = statusField[0] as ChangeStatus;
    if (status === "R" || status === "C") {
      const oldPath = fields[i++] as string;
      const path = fields[i++] as string;
      changes.push({ status, path, oldPath, oldMode, newMode, oldOid, newOid });
    } else {
      changes.push({ status, path: fields[i++] as string, oldMode, newMode, oldOid, newOid });
    }
  }
  return changes;
}

export function parseLsTree(out: string): Tree {
  const tree = new Map<string, TreeEntry>();
  // "<mode> <type> <oid>\t<path>\0", scanned in place: no array of records.
  for (let start = 0; start < out.length; ) {
    let end = out.indexOf("\0", start);
    if (end < 0) end = out.length;
    const tab = out.indexOf("\t", start);
    if (tab > start && tab < end) {
      const mode = out.startsWith("100644", start) ? "100644" : out.slice(start, start + 6);
      const oid = out.slice(out.lastIndexOf(" ", tab) + 1, tab);
      tree.set(out.slice(tab + 1, end), { mode, oid });
    }
    start = end + 1;
  }
  return tree;
}

/**
 * The base tree, rebuilt from the head tree by undoing a diff: saves listing a second tree.
 * Exact because a raw diff carries the old mode and blob of every path it touches.
 */
export function treeBeforeChanges(head: Tree, changes: readonly Change[]): Tree {
  const base = new Map(head);
  for (const c of changes) {
    if (c.status !== "D") base.delete(c.path);
    const oldPath = c.oldPath ?? c.path;
    if (c.status !== "A") base.set(oldPath, { mode: c.oldMode, oid: c.oldOid });
  }
  return base;
}
