/**
 * Sources benchmark. Requirement: a warm plan of a repository with 3 submodules and 2 sources is
 * at most 1.5x the warm plan of the same content as one flat repository, measured in the same
 * run (medians). Both are planned as the product plans them: the ends' mounts resolved
 * (plan/planMounts.ts, through the CLI's CheckoutMountOpener: submodule clones in .git/modules,
 * sources as local clones), then planRange with a ParseCache kept between runs. The range moves
 * two submodule pointers and one source, changing 5 files in each; the flat repository's range
 * changes the same files. The App's path adds, per plan, a fetch of each source's mirror
 * (network, not measured here).
 *
 * Correctness is asserted: both plans must mark the same stacks changed (exit 1 otherwise).
 * Knobs: BENCH_RUNS (warm runs, default 25), BENCH_STACKS (default 300), BENCH_KEEP=1.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { ParseCache } from "../src/detect/snapshot.ts";
import { CheckoutMountOpener } from "../src/git/mountOpeners.ts";
import { GitRepo } from "../src/git/repo.ts";
import type { Plan } from "../src/plan/plan.ts";
import { resolvePlanMounts } from "../src/plan/planMounts.ts";
import { planRange } from "../src/plan/planRange.ts";
import { fmtMs, fmtRatio, summarize, table } from "./lib/stats.ts";

const ROOT = resolve(import.meta.dirname, "..");
const TMP = join(ROOT, ".tmp", "bench", "sources");
const RUNS = Number(process.env.BENCH_RUNS ?? 25);
const STACKS = Number(process.env.BENCH_STACKS ?? 300);
const FILES_PER_MOUNT = 200;
const TARGET_RATIO = 1.5;
const SUBMODULES = ["lib1", "lib2", "lib3"];
const SOURCES = ["src1", "src2"];
const MOUNTS = [...SUBMODULES, ...SOURCES];

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Bench",
  GIT_AUTHOR_EMAIL: "bench@example.invalid",
  GIT_COMMITTER_NAME: "Bench",
  GIT_COMMITTER_EMAIL: "bench@example.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
};
const git = (dir: string, ...args: string[]) =>
  execFileSync("git", ["-c", "protocol.file.allow=always", ...args], {
    cwd: dir,
    env: ENV,
    encoding: "utf8",
  }).trim();
const write = (dir: string, files: Record<string, string>) => {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
};
const commit = (dir: string, message: string) => {
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--allow-empty", "-m", message);
  return git(dir, "rev-parse", "HEAD");
};
const newRepo = (dir: string) => {
  mkdirSync(dir, { recursive: true });
  git(dir, "init", "-q", "-b", "main");
  return dir;
};

/** The files of a mounted repository: FILES_PER_MOUNT small files in 10 directories. */
const mountFiles = (name: string, version: (i: number) => number) =>
  Object.fromEntries(
    Array.from({ length: FILES_PER_MOUNT }, (_, i) => [
      `d${i % 10}/f${i}.conf`,
      `${name} ${i} v${version(i)}\n`,
    ]),
  );
/** Stack i bind-mounts one file of one mount, and has an env file of its own. */
const stackFiles = () =>
  Object.fromEntries(
    Array.from({ length: STACKS }, (_, i) => {
      const m = MOUNTS[i % MOUNTS.length] as string;
      const f = Math.floor(i / MOUNTS.length) % FILES_PER_MOUNT;
      return [
        [
          `stacks/s${i}/compose.yaml`,
          `services:\n  s${i}:\n    image: nginx\n    env_file: app.env\n    volumes:\n      - ../../vendor/${m}/d${f % 10}/f${f}.conf:/etc/x.conf\n`,
        ],
        [`stacks/s${i}/app.env`, `N=${i}\n`],
      ];
    }).flat(),
  );
const CONFIG = `sources:\n${SOURCES.map((s) => `  ${s}: { repository: bench/${s}, ref: main, path: vendor/${s} }`).join("\n")}\n`;
/** The 5 files changed in each moved mount: those the first stacks using it mount. */
const moved = new Set(["lib1", "lib2", "src1"]);
const changedIndex = (i: number) => i < 5;

function build() {
  rmSync(TMP, { recursive: true, force: true });
  const mounts: Record<string, { dir: string; v1: string; v2: string }> = {};
  for (const m of MOUNTS) {
    const dir = newRepo(join(TMP, m));
    write(
      dir,
      mountFiles(m, () => 1),
    );
    const v1 = commit(dir, "v1");
    let v2 = v1;
    if (moved.has(m)) {
      write(
        dir,
        mountFiles(m, (i) => (changedIndex(i) ? 2 : 1)),
      );
      v2 = commit(dir, "v2");
    }
    mounts[m] = { dir, v1, v2 };
  }
  // The mounted app: submodules at v1, then moved to v2.
  const app = newRepo(join(TMP, "app"));
  for (const m of SUBMODULES) {
    git(app, "submodule", "add", "-q", (mounts[m] as { dir: string }).dir, `vendor/${m}`);
    git(join(app, "vendor", m), "checkout", "-q", (mounts[m] as { v1: string }).v1);
  }
  write(app, { ".github/stackpilot.yml": CONFIG, ...stackFiles() });
  const appBase = commit(app, "base");
  for (const m of SUBMODULES) git(join(app, "vendor", m), "checkout", "-q", (mounts[m] as { v2: string }).v2);
  const appHead = commit(app, "move pointers");
  // The same content flat: each mount's files in the repository itself.
  const flat = newRepo(join(TMP, "flat"));
  const flatOf = (v: "v1" | "v2") =>
    Object.fromEntries(
      MOUNTS.flatMap((m) =>
        Object.entries(mountFiles(m, (i) => (v === "v2" && moved.has(m) && changedIndex(i) ? 2 : 1))).map(
          ([p, t]) => [`vendor/${m}/${p}`, t],
        ),
      ),
    );
  write(flat, { ".github/stackpilot.yml": "{}\n", ...stackFiles(), ...flatOf("v1") });
  const flatBase = commit(flat, "base");
  write(flat, flatOf("v2"));
  const flatHead = commit(flat, "change");
  return { mounts, app, appBase, appHead, flat, flatBase, flatHead };
}

const changed = (p: Plan) =>
  p.stacks
    .filter((s) => s.changed)
    .map((s) => s.name)
    .sort();

async function main() {
  const t0 = performance.now();
  const b = build();
  console.log(
    `${STACKS} stacks; 3 submodules and 2 sources of ${FILES_PER_MOUNT} files each (the flat repository: the same files in place); built in ${fmtMs(performance.now() - t0)}`,
  );
  const sources = new Map(SOURCES.map((s) => [s, (b.mounts[s] as { dir: string }).dir]));
  // Source clones at v2: the base reads src1 at v1 (what an earlier plan read).
  const baseSources = new Map([["src1", (b.mounts.src1 as { v1: string }).v1]]);
  const mountedRepo = new GitRepo(b.app);
  const flatRepo = new GitRepo(b.flat);
  const mountedCache = new ParseCache();
  const flatCache = new ParseCache();
  const opener = new CheckoutMountOpener(sources);
  const flatOpener = new CheckoutMountOpener();
  const planMounted = async () => {
    const mounts = await resolvePlanMounts(mountedRepo, { base: b.appBase, head: b.appHead }, opener, {
      baseSources,
      known: (sha) => mountedCache.snapshots.has(sha),
      mergeBases: mountedCache.mergeBases,
    });
    return (await planRange(mountedRepo, { base: b.appBase, head: b.appHead, mounts }, mountedCache)).plan;
  };
  const planFlat = async () => {
    const mounts = await resolvePlanMounts(flatRepo, { base: b.flatBase, head: b.flatHead }, flatOpener, {
      known: (sha) => flatCache.snapshots.has(sha),
      mergeBases: flatCache.mergeBases,
    });
    return (await planRange(flatRepo, { base: b.flatBase, head: b.flatHead, mounts }, flatCache)).plan;
  };

  let t = performance.now();
  const coldMounted = await planMounted();
  const coldMountedMs = performance.now() - t;
  t = performance.now();
  const coldFlat = await planFlat();
  const coldFlatMs = performance.now() - t;
  const want = changed(coldFlat);
  if (want.length !== 15 || changed(coldMounted).join(" ") !== want.join(" ") || !coldMounted.ok)
    throw new Error(
      `CORRECTNESS FAILURE: flat changed [${want.join(", ")}], mounted changed [${changed(coldMounted).join(", ")}] (ok=${coldMounted.ok})`,
    );

  const warmMounted: number[] = [];
  const warmFlat: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so both see the same machine.
    t = performance.now();
    const pf = await planFlat();
    warmFlat.push(performance.now() - t);
    t = performance.now();
    const pm = await planMounted();
    warmMounted.push(performance.now() - t);
    if (changed(pm).join(" ") !== want.join(" ") || changed(pf).join(" ") !== want.join(" "))
      throw new Error(`CORRECTNESS FAILURE in warm run ${i + 1}`);
  }
  const m = summarize(warmMounted);
  const f = summarize(warmFlat);
  const ratio = m.median / f.median;
  console.log(
    table(
      ["metric", "3 submodules + 2 sources", "flat (same run)", "ratio", "target", "met?"],
      [
        [
          `warm plan, median of ${RUNS}`,
          fmtMs(m.median),
          fmtMs(f.median),
          fmtRatio(ratio),
          `<= ${TARGET_RATIO}x`,
          ratio <= TARGET_RATIO ? "yes" : "**NO**",
        ],
        [
          "cold plan (first in process)",
          fmtMs(coldMountedMs),
          fmtMs(coldFlatMs),
          fmtRatio(coldMountedMs / coldFlatMs),
          "report",
          "-",
        ],
        [
          "changed stacks (asserted equal)",
          String(changed(coldMounted).length),
          String(want.length),
          "-",
          "equal",
          "yes",
        ],
      ],
    ),
  );
  console.log(
    table(
      ["measurement", "n", "median", "min", "max"],
      [
        [
          "warm plan, mounted (resolve mounts + planRange)",
          String(RUNS),
          fmtMs(m.median),
          fmtMs(m.min),
          fmtMs(m.max),
        ],
        [
          "warm plan, flat (resolve mounts + planRange)",
          String(RUNS),
          fmtMs(f.median),
          fmtMs(f.min),
          fmtMs(f.max),
        ],
      ],
    ),
  );
  console.log(
    `mounted plan: ${coldMounted.mounts?.map((x) => `${x.kind} ${x.name} (${x.files} files)`).join(", ")}`,
  );
}

try {
  await main();
} finally {
  if (process.env.BENCH_KEEP !== "1") rmSync(TMP, { recursive: true, force: true });
}
