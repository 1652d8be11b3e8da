/**
 * Hostile inputs benchmark. A synthetic repository (100 stacks) is planned twice per round, cold
 * (a new ParseCache): as it is, and with hostile inputs added in one commit:
 * - two watch globs at the 1,024-character limit, each the worst accepted for one matcher (many
 *   stars: picomatch's worst; one long piece with a `?`: ours), and files named with 4,000 `a`s;
 * - a ~1 MB compose file with one 40,000-key mapping;
 * - an alias-heavy compose file (1,000 aliases, the limit, each a merge key);
 * - a compose file nested 100,000 levels deep (refused at depth 100);
 * - a 2.5 MB compose file with one 100,000-key mapping (over the 1 MB limit: a problem, never read).
 * Reported: medians of both plans, and per input Stackpilot's time beside the "before": the
 * library as main used it (picomatch; yaml with `uniqueKeys`), each in a child process stopped
 * after BENCH_BEFORE_TIMEOUT_S seconds.
 *
 * The one assertion is correctness: the clean plan has no problem, the hostile plan exactly the
 * expected ones (throws, so exit 1, otherwise).
 *
 *   npm run bench -- hostile      knobs: BENCH_RUNS (default 5), BENCH_BEFORE_TIMEOUT_S (default 20)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { collectComposeInputs, parseComposeFile } from "../src/detect/compose.ts";
import { DEFAULT_PARSE_LIMITS, ParseCache } from "../src/detect/snapshot.ts";
import { GitRepo } from "../src/git/repo.ts";
import { planRange } from "../src/plan/planRange.ts";
import { compileGlob, globProblem } from "../src/util/glob.ts";
import { fmtBytes, fmtMs, type Summary, summarize, table } from "./lib/stats.ts";

const ROOT = resolve(import.meta.dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BEFORE_TIMEOUT_MS = Number(process.env.BENCH_BEFORE_TIMEOUT_S ?? 20) * 1000;
const log = (s: string) => process.stderr.write(`[hostile] ${s}\n`);

import {
  aliasHeavy,
  bigMapping,
  deep,
  EXTGLOB,
  LONG_NAME,
  makeHostileRepo,
  oversize,
  PIECE_GLOB,
  STARS_GLOB,
  serviceChain,
} from "./lib/hostileRepo.ts";

const tmp = mkdtempSync(join(tmpdir(), "sp-bench-hostile-"));
try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const texts = { big: bigMapping(), aliases: aliasHeavy(), deep: deep() };
  const commits = makeHostileRepo(join(tmp, "repo.git"), texts, log);
  const repo = new GitRepo(join(tmp, "repo.git"));
  const plans = await comparePlans(repo, commits);
  const rows = await inputRows(repo, commits.hostile, texts);

  const C = summarize(plans.cleanMs);
  const H = summarize(plans.hostileMs);
  const dist = (name: string, s: Summary) => [name, String(s.n), fmtMs(s.median), fmtMs(s.min), fmtMs(s.max)];
  console.log("");
  console.log(
    table(
      ["plan, cold cache (100 stacks)", "n", "median", "min", "max"],
      [
        dist("the repository as it is", C),
        dist("the same with the hostile inputs", H),
        ["difference (medians)", "-", fmtMs(H.median - C.median), "-", "-"],
      ],
    ),
  );
  console.log("");
  console.log(table(["hostile input", "Stackpilot (median)", "outcome", "before (as main used it)"], rows));
  console.log("");
  console.log(`hostile plan's problems:\n${plans.problems.map((p) => `  ${p}`).join("\n")}`);
}

/** Both plans, interleaved, cold each time; checks that each has exactly the expected problems. */
async function comparePlans(repo: GitRepo, commits: { root: string; clean: string; hostile: string }) {
  const plan = async (head: string) => {
    const t = performance.now();
    const r = await planRange(repo, { base: commits.root, head }, new ParseCache());
    return { ms: performance.now() - t, plan: r.plan };
  };
  await plan(commits.clean); // warm-up: module loading and the JIT, not counted
  const cleanMs: number[] = [];
  const hostileMs: number[] = [];
  let problems: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c = await plan(commits.clean);
    if (c.plan.problems.length > 0)
      throw new Error(`clean plan has problems: ${JSON.stringify(c.plan.problems)}`);
    cleanMs.push(c.ms);
    const h = await plan(commits.hostile);
    hostileMs.push(h.ms);
    problems = h.plan.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`).sort();
    log(`round ${i + 1}: clean ${fmtMs(c.ms)}, hostile ${fmtMs(h.ms)}`);
  }
  const expected = [
    /^stacks\/deep\/compose\.yaml:1:\d+: nested more than 100 levels deep \(stack "deep" is broken: not deployed\)$/,
    /^stacks\/oversize\/compose\.yaml:1:1: is 2\.\d MB, over the 1 MB limit for files Stackpilot parses \(stack "oversize" is broken: not deployed\)$/,
  ];
  if (problems.length !== expected.length || expected.some((re, i) => !re.test(problems[i] ?? "")))
    throw new Error(`hostile plan problems: ${JSON.stringify(problems)}, expected ${expected.join(", ")}`);
  return { cleanMs, hostileMs, problems };
}

/** Each input alone: Stackpilot's median, then the library as main used it (in a child, bounded). */
async function inputRows(
  repo: GitRepo,
  hostile: string,
  texts: { big: string; aliases: string; deep: string },
): Promise<string[][]> {
  const oversizeOid = (await repo.lsTree(hostile)).get("stacks/oversize/compose.yaml")?.oid ?? "";
  const ours = {
    stars: await medianOf(() => compileGlob(STARS_GLOB, { dot: true })(LONG_NAME)),
    piece: await medianOf(() => compileGlob(PIECE_GLOB, { dot: true })(`${LONG_NAME}z`)),
    big: await medianOf(() => parseComposeFile("stacks/big/compose.yaml", texts.big)),
    aliases: await medianOf(() => parseComposeFile("stacks/aliases/compose.yaml", texts.aliases)),
    deep: await medianOf(() => parseComposeFile("stacks/deep/compose.yaml", texts.deep)),
    oversize: await medianOf(() => repo.readBlobsWithin([oversizeOid], DEFAULT_PARSE_LIMITS.maxFileBytes)),
    chain: await medianOf(() => collectProject(serviceChain(8_000, true))),
    flat: await medianOf(() => collectProject(serviceChain(8_000, false))),
  };
  const picomatch = (glob: string, name: string) =>
    before('import pm from "picomatch"; const m = pm(input.glob, { dot: true });', "m(input.name)", {
      glob,
      name,
    });
  const yaml = (text: string, call: string) =>
    before('import { parseDocument } from "yaml";', call, { text });
  log("before: picomatch and yaml as main used them (each stopped after the timeout)");
  return [
    [
      `watch \`**/*a*a…*z\` (509 stars, ${STARS_GLOB.length} chars) vs a name of 4,000 \`a\`s`,
      fmtMs(ours.stars.median),
      "accepted; no match",
      `picomatch: ${picomatch(STARS_GLOB, LONG_NAME)}`,
    ],
    [
      `watch \`**/*aaa…a?b*z\` (one 1,018-char piece, ${PIECE_GLOB.length} chars) vs the name + \`z\``,
      fmtMs(ours.piece.median),
      "accepted; no match",
      `picomatch: ${picomatch(PIECE_GLOB, `${LONG_NAME}z`)}`,
    ],
    [
      `watch \`${EXTGLOB}\` vs a name of 32 \`a\`s (the issue's)`,
      "-",
      `refused: ${globProblem(EXTGLOB)}`,
      `picomatch: ${picomatch(EXTGLOB, `d/${"a".repeat(32)}`)}`,
    ],
    [
      `compose file of ${fmtBytes(texts.big.length)}, one 40,000-key mapping`,
      fmtMs(ours.big.median),
      "parsed, no problem",
      `yaml, uniqueKeys: ${yaml(texts.big, "parseDocument(input.text)")}`,
    ],
    [
      "compose file with 1,000 aliases (merge keys)",
      fmtMs(ours.aliases.median),
      "parsed, no problem",
      `yaml: ${yaml(texts.aliases, "parseDocument(input.text, { merge: true }).toJS()")}`,
    ],
    [
      "compose file nested 100,000 deep (200 KB)",
      fmtMs(ours.deep.median),
      "refused at depth 100",
      `yaml: ${yaml(texts.deep, "parseDocument(input.text)")}`,
    ],
    [
      "compose file of 2.5 MB, one 100,000-key mapping (the issue's)",
      `${fmtMs(ours.oversize.median)} (sized by git)`,
      "problem at file:1:1, never read",
      `yaml, uniqueKeys: ${yaml(oversize(), "parseDocument(input.text)")} (after reading it whole)`,
    ],
    [
      "compose project of 8,000 services in one `extends` chain",
      `${fmtMs(ours.chain.median)} (${(ours.chain.median / ours.flat.median).toFixed(2)}x)`,
      "parsed, every service inherits the far end",
      `the same 8,000 services without extends: ${fmtMs(ours.flat.median)}`,
    ],
  ];
}

/** A stack's whole compose project (parse, extends, env files), as planning collects it. */
function collectProject(text: string): void {
  const file = "stacks/chain/compose.yaml";
  const files: Record<string, string> = { [file]: text, "stacks/chain/app.env": "A=1\n" };
  const info = collectComposeInputs([file], (path) => files[path]);
  if (info.problems.some((p) => p.severity === "error") || info.services.some((s) => s.image !== "far-end:1"))
    throw new Error("the extends chain was not resolved");
}

/** Median of 5 timed calls after one untimed. */
async function medianOf(f: () => unknown): Promise<Summary> {
  await f();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return summarize(times);
}

/**
 * Time `call` after `setup` in a child Node (imports resolve from the repository; `input` is read
 * from stdin), stopped after the timeout.
 */
function before(setup: string, call: string, input: object): string {
  const script = [
    'import { readFileSync } from "node:fs";',
    'const input = JSON.parse(readFileSync(0, "utf8"));',
    setup,
    `const t = performance.now(); ${call}; console.log(performance.now() - t);`,
  ].join("\n");
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    input: JSON.stringify(input),
    encoding: "utf8",
    timeout: BEFORE_TIMEOUT_MS,
    killSignal: "SIGKILL",
    maxBuffer: 1 << 20,
  });
  if (r.error || r.signal) return `> ${BEFORE_TIMEOUT_MS / 1000} s (stopped)`;
  const error = r.stderr.split("\n").find((l) => /^\w*Error: /.test(l));
  if (r.status !== 0) return `throws ${error ?? r.stderr.trim()}`;
  return fmtMs(Number(r.stdout.trim()));
}
