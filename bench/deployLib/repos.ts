/** The repositories the deploy benchmark deploys, built with plain git (deterministic authorship). */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Bench",
  GIT_AUTHOR_EMAIL: "bench@example.invalid",
  GIT_COMMITTER_NAME: "Bench",
  GIT_COMMITTER_EMAIL: "bench@example.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
};

export function git(dir: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd: dir, encoding: "utf8", env: GIT_ENV, maxBuffer: 1 << 28 }).trim();
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
}

/** Write the files, commit everything, return the new HEAD. */
export function commit(dir: string, files: Record<string, string>, message: string): string {
  writeFiles(dir, files);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "-m", message);
  return git(dir, "rev-parse", "HEAD");
}

export function initRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "core.autocrlf", "false");
}

const CONFIG = `version: 1
defaults:
  hosts: ["*"]
`;

/** One small stack (one busybox service) whose env var BENCH_ROUND changes every round. */
export const appCompose = (round: string) => `services:
  app:
    image: stackpilot-test/busybox:1
    init: true
    stop_grace_period: 1s
    command: ["sleep", "3600"]
    network_mode: none
    environment:
      BENCH_ROUND: "${round}"
`;

/** The same service for the raw baseline: the value comes from the caller's environment. */
export const baselineCompose = `services:
  app:
    image: stackpilot-test/busybox:1
    init: true
    stop_grace_period: 1s
    command: ["sleep", "3600"]
    network_mode: none
    environment:
      BENCH_ROUND: "\${BENCH_ROUND}"
`;

export function buildOneStackRepo(dir: string): string {
  initRepo(dir);
  return commit(dir, { ".github/stackpilot.yml": CONFIG, "stacks/app/compose.yaml": appCompose("0") }, "app");
}

/** mulberry32 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS =
  "const let function return import export from if else for while await async class new this type interface extends value result error config service deploy host stack file path string number boolean null undefined true false map set list item index count total size name id key data options request response handler server client".split(
    " ",
  );

function sourceText(rnd: () => number, bytes: number): string {
  let out = "";
  while (out.length < bytes) {
    const n = 3 + Math.floor(rnd() * 9);
    const line: string[] = [];
    for (let i = 0; i < n; i++) line.push(WORDS[Math.floor(rnd() * WORDS.length)] as string);
    out += `${"  ".repeat(Math.floor(rnd() * 4))}${line.join(" ")};\n`;
  }
  return out;
}

export const stackName = (i: number) => `s${String(i).padStart(2, "0")}`;

const stackFiles = (i: number, rnd: () => number): Record<string, string> => ({
  [`stacks/${stackName(i)}/compose.yaml`]: `services:
  svc:
    image: stackpilot-test/busybox:1
    init: true
    stop_grace_period: 1s
    command: ["sleep", "3600"]
    network_mode: none
    env_file: ./app.env
    volumes:
      - ./conf:/conf:ro
`,
  [`stacks/${stackName(i)}/app.env`]: `STACK=${stackName(i)}\nLOG_LEVEL=info\n`,
  [`stacks/${stackName(i)}/conf/app.conf`]: sourceText(rnd, 1500),
});

export interface ManyStacksRepo {
  head: string;
  stacks: string[];
  commits: number;
  files: number;
}

/**
 * `stacks` small stacks plus an application monorepo around them (source files and docs with a
 * history of edits), so that a clone is the size of a real repository, not of the stacks alone.
 */
export function buildManyStacksRepo(
  dir: string,
  opts: { stacks: number; appFiles: number; history: number; editsPerCommit: number },
): ManyStacksRepo {
  initRepo(dir);
  const rnd = prng(20_260_101);
  const files: Record<string, string> = { ".github/stackpilot.yml": CONFIG, "README.md": "# bench\n" };
  for (let i = 1; i <= opts.stacks; i++) Object.assign(files, stackFiles(i, rnd));
  const appPaths: string[] = [];
  for (let i = 0; i < opts.appFiles; i++) {
    const p =
      i % 10 === 0
        ? `docs/page-${i}.md`
        : `apps/mod${String(i % 37).padStart(2, "0")}/file-${String(i).padStart(4, "0")}.ts`;
    appPaths.push(p);
    files[p] = sourceText(rnd, 1000 + Math.floor(rnd() * 4000));
  }
  commit(dir, files, "initial");
  for (let c = 1; c < opts.history; c++) {
    const edits: Record<string, string> = {};
    for (let e = 0; e < opts.editsPerCommit; e++) {
      const p = appPaths[Math.floor(rnd() * appPaths.length)] as string;
      edits[p] = sourceText(rnd, 1000 + Math.floor(rnd() * 4000));
    }
    commit(dir, edits, `apps: change ${c}`);
  }
  const head = git(dir, "rev-parse", "HEAD");
  return {
    head,
    stacks: Array.from({ length: opts.stacks }, (_, i) => stackName(i + 1)),
    commits: opts.history,
    files: Object.keys(files).length,
  };
}

export interface CloneSize {
  /** What a clone transfers: a bundle of every ref (one packfile, like the fetch pack). */
  transferBytes: number;
  /** A fresh clone on disk: .git plus the checked-out tree (apparent sizes). */
  diskBytes: number;
  gitDirBytes: number;
}

export function cloneSize(repoDir: string, scratch: string): CloneSize {
  const bundle = join(scratch, "repo.bundle");
  git(repoDir, "bundle", "create", "-q", bundle, "--all");
  const transferBytes = Number(execFileSync("stat", ["-c", "%s", bundle], { encoding: "utf8" }).trim());
  const clone = join(scratch, "clone");
  execFileSync("git", ["clone", "-q", "--no-local", repoDir, clone], { env: GIT_ENV });
  const du = (p: string) => {
    const r = spawnSync("du", ["-s", "-b", p], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`du ${p}: ${r.stderr}`);
    return Number(r.stdout.split("\t")[0]);
  };
  return { transferBytes, diskBytes: du(clone), gitDirBytes: du(join(clone, ".git")) };
}
