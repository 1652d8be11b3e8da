/**
 * A synthetic monorepo for the benchmarks, built with one `git fast-import` fed from a stream:
 * 1,000 stacks under `stacks/sNNNN/` (~20,000 files with the shared dirs), a
 * `.github/stackpilot.yml` with a few explicit stacks, then a range of 50 commits that together
 * touch exactly 30 stacks (files inside stack dirs, a shared env file several stacks reference,
 * an app directory used as a build context, a watched glob, renames, a file deletion and a whole
 * stack deleted). Deterministic: same options, same commit ids.
 *
 *   usage: node bench/lib/synthRepo.ts DIR   (generates a bare repo in DIR and prints its manifest)
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { performance } from "node:perf_hooks";

export interface SynthOptions {
  /** Directory of the bare repository to create (removed first if it exists). */
  dir: string;
  seed?: number;
  stacks?: number;
  /** Total files in the base commit. */
  files?: number;
  commits?: number;
  touched?: number;
}

export interface SynthRepo {
  dir: string;
  /** Commit ids: `base` is the range's start (tag bench-base), `head` its end (branch main). */
  base: string;
  head: string;
  stacks: number;
  filesAtBase: number;
  filesAtHead: number;
  commits: number;
  /** Names of the stacks the range touches, sorted: what a correct plan reports as changed. */
  expectedChanged: string[];
  /** How each touched stack is touched, for the report. */
  touchKinds: Record<string, number>;
  stackNames: string[];
  configText: string;
  /** Generation time, ms. */
  ms: number;
}

export const CONFIG_PATH = ".github/stackpilot.yml";

/** mulberry32: small, fast, good enough for deterministic test data. */
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

const pad = (n: number, w: number) => String(n).padStart(w, "0");
const stackName = (i: number) => `s${pad(i, 4)}`;
const appName = (i: number) => `app${pad(i, 2)}`;
const teamEnv = (i: number) => `shared/env/team-${pad(i, 2)}.env`;

const APPS = 40;
const TEAMS = 40;
const EPOCH = 1_767_225_600; // 2026-01-01T00:00:00Z

export async function generateSynthRepo(opts: SynthOptions): Promise<SynthRepo> {
  const t0 = performance.now();
  const seed = opts.seed ?? 20_260_101;
  const nStacks = opts.stacks ?? 1000;
  const nFiles = opts.files ?? 20_000;
  const nCommits = opts.commits ?? 50;
  const nTouched = opts.touched ?? 30;
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const shuffle = <T>(xs: T[]): T[] => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
    }
    return xs;
  };
  const words = ["alpha", "bravo", "delta", "echo", "gamma", "kilo", "lima", "omega", "sigma", "tango"];
  const body = (tag: string, lines: number) => {
    let s = `# ${tag}\n`;
    for (let i = 0; i < lines; i++) s += `${pick(words)}_${i} = ${pick(words)}-${int(0, 99_999)}\n`;
    return s;
  };

  if (nTouched < 12) throw new Error("synthRepo: need at least 12 touched stacks for the mix of changes");
  // Roles of the touched stacks; everything else stays out of the range.
  const order = shuffle([...Array(nStacks).keys()]);
  const touched = order.slice(0, nTouched);
  const role = (k: number) => touched[k] as number;
  const sharedEnvUsers = [role(0), role(1), role(2)]; // reference shared/env/team-00.env
  const appUser = role(3); // the only user of apps/app00
  const watcher = role(4); // explicit stack watching shared/config/monitoring/**
  const deleted = role(5); // whole stack directory deleted
  const fileDeleted = role(6);
  const renamed = [role(7), role(8), role(9)];
  const added = role(10);
  const composeEdited = role(11);
  const modified = touched.slice(12);
  // Untouched explicit stacks: hosts, environment, watch on files the range leaves alone.
  const explicitOthers = order.slice(nTouched, nTouched + 4);

  // --- base tree -------------------------------------------------------------------------------
  const files = new Map<string, string>();
  const host = (i: number) => `app-${(i % 8) + 1}`;
  const config = [
    "version: 1",
    "discover:",
    '  roots: ["stacks/*"]',
    "defaults:",
    "  environment: production",
    "environments:",
    "  production:",
    '    hosts: ["app-1", "app-2"]',
    "    deploy_on: merge",
    "    requires: [approved]",
    "  edge:",
    '    hosts: ["edge-1", "edge-2"]',
    "    deploy_on: command",
    "stacks:",
    `  - name: ${stackName(watcher)}`,
    '    hosts: ["mon-1"]',
    '    watch: ["shared/config/monitoring/**"]',
    ...explicitOthers.flatMap((i, k) => [
      `  - name: ${stackName(i)}`,
      ...(k % 2 === 0 ? ["    environment: edge"] : [`    hosts: ["${host(i)}"]`]),
      ...(k < 2 ? ['    watch: ["shared/config/proxy/*.conf"]'] : []),
      ...(k === 3 ? ["    prune: true"] : []),
    ]),
    "",
  ].join("\n");
  files.set(CONFIG_PATH, config);

  for (let a = 0; a < APPS; a++) {
    const dir = `apps/${appName(a)}`;
    files.set(
      `${dir}/Dockerfile`,
      `FROM node:24-alpine\nWORKDIR /app\nCOPY . .\nCMD ["node", "src/main.js"]\n`,
    );
    files.set(`${dir}/package.json`, `{ "name": "${appName(a)}", "version": "1.0.${a}" }\n`);
    for (let f = 0; f < 8; f++)
      files.set(`${dir}/src/${f === 0 ? "main" : `mod${f}`}.ts`, body(`${dir} ${f}`, 12));
  }
  for (let t = 0; t < TEAMS; t++) files.set(teamEnv(t), body(`team ${t}`, 6));
  for (let f = 0; f < 10; f++)
    files.set(`shared/config/monitoring/rule-${f}.yml`, body(`monitoring ${f}`, 8));
  for (let f = 0; f < 10; f++) files.set(`shared/config/proxy/site-${f}.conf`, body(`proxy ${f}`, 8));

  const sharedEnvSet = new Set(sharedEnvUsers);
  for (let i = 0; i < nStacks; i++) {
    const name = stackName(i);
    const dir = `stacks/${name}`;
    const envs = ["./stack.env"];
    if (sharedEnvSet.has(i)) envs.push(`../../${teamEnv(0)}`);
    else if (rnd() < 0.15) envs.push(`../../${teamEnv(int(1, TEAMS - 1))}`);
    const build = i === appUser ? appName(0) : rnd() < 0.1 ? appName(int(1, APPS - 1)) : undefined;
    const lines = [
      "services:",
      "  web:",
      `    image: registry.example.invalid/${name}/web:1.${i % 10}.0`,
      "    restart: unless-stopped",
      "    env_file:",
      ...envs.map((e) => `      - ${e}`),
      "    volumes:",
      "      - ./config:/etc/app:ro",
      "      - data:/var/lib/app",
      "    ports:",
      `      - "${20_000 + i}:8080"`,
      "    healthcheck:",
      '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]',
      "      interval: 10s",
    ];
    if (build) {
      lines.push(
        "  worker:",
        `    build: ../../apps/${build}`,
        "    env_file: ./stack.env",
        "    depends_on: [web]",
      );
    }
    lines.push("volumes:", "  data: {}", "");
    files.set(`${dir}/compose.yaml`, lines.join("\n"));
    if (rnd() < 0.05) {
      files.set(
        `${dir}/compose.override.yaml`,
        "services:\n  web:\n    environment:\n      LOG_LEVEL: debug\n",
      );
    }
    files.set(`${dir}/stack.env`, `STACK=${name}\nPORT=8080\nSECRET_REF=vault:${name}/app\n`);
    const nConf = int(13, 19);
    for (let c = 0; c < nConf; c++)
      files.set(`${dir}/config/c${pad(c, 2)}.conf`, body(`${name} config ${c}`, 10));
  }
  // Fill up to the wanted file count with documentation nobody deploys.
  for (let d = 0; files.size < nFiles; d++) files.set(`docs/page-${pad(d, 5)}.md`, body(`doc ${d}`, 6));
  const filesAtBase = files.size;
  const baseSnapshot = [...files]; // the range's edits below change `files`

  // --- the range: one operation per touch, spread over nCommits commits -------------------------
  type Op = { msg: string; cmds: string[] };
  const touchKinds: Record<string, number> = {};
  const kind = (k: string) => {
    touchKinds[k] = (touchKinds[k] ?? 0) + 1;
  };
  const modify = (path: string, what: string): string[] => {
    const next = `${files.get(path) ?? ""}${what} = ${int(0, 99_999)}\n`;
    files.set(path, next);
    return [inline(path, next)];
  };
  const ops: Op[] = [];
  const early: Op[] = []; // edits of the stack that is deleted later must come first
  kind("shared env file (3 stacks)");
  ops.push({ msg: "shared env: rotate team-00 settings", cmds: modify(teamEnv(0), "rotated") });
  kind("build context in apps/ (1 stack)");
  ops.push({ msg: "app00: fix handler", cmds: modify(`apps/${appName(0)}/src/main.ts`, "fixed") });
  kind("watched glob (1 stack)");
  ops.push({
    msg: "monitoring: tighten alert",
    cmds: modify("shared/config/monitoring/rule-3.yml", "threshold"),
  });
  kind("file modified in a stack dir, then whole stack deleted (1 stack)");
  early.push({
    msg: `${stackName(deleted)}: last tweak`,
    cmds: modify(`stacks/${stackName(deleted)}/stack.env`, "X"),
  });
  const deleteStack: Op = { msg: `${stackName(deleted)}: retire`, cmds: [`D stacks/${stackName(deleted)}`] };
  kind("file deleted in a stack dir");
  ops.push({
    msg: `${stackName(fileDeleted)}: drop c01`,
    cmds: [`D stacks/${stackName(fileDeleted)}/config/c01.conf`],
  });
  for (const r of renamed) {
    kind("file renamed in a stack dir");
    const from = `stacks/${stackName(r)}/config/c00.conf`;
    const to = `stacks/${stackName(r)}/config/c00-main.conf`;
    ops.push({ msg: `${stackName(r)}: rename c00`, cmds: [`R ${from} ${to}`] });
  }
  kind("file added in a stack dir");
  const addedPath = `stacks/${stackName(added)}/config/extra.conf`;
  files.set(addedPath, body(`${stackName(added)} extra`, 5));
  ops.push({
    msg: `${stackName(added)}: add extra.conf`,
    cmds: [inline(addedPath, files.get(addedPath) as string)],
  });
  kind("compose.yaml edited");
  {
    const p = `stacks/${stackName(composeEdited)}/compose.yaml`;
    const next = (files.get(p) as string).replace(/web:1\.(\d)\.0/, "web:1.$1.1");
    files.set(p, next);
    ops.push({ msg: `${stackName(composeEdited)}: bump web`, cmds: [inline(p, next)] });
  }
  for (const m of modified) {
    const name = stackName(m);
    const useEnv = rnd() < 0.5;
    kind(useEnv ? "stack.env modified" : "config file modified");
    ops.push({
      msg: `${name}: tune`,
      cmds: modify(useEnv ? `stacks/${name}/stack.env` : `stacks/${name}/config/c02.conf`, "tuned"),
    });
  }
  const docsOnly = 4;
  const retouchable = touched.filter((i) => i !== deleted);
  const fillers = nCommits - ops.length - early.length - 1 - docsOnly;
  if (fillers < 0) throw new Error("synthRepo: more operations than commits");
  for (let f = 0; f < fillers; f++) {
    const name = stackName(pick(retouchable));
    ops.push({ msg: `${name}: follow-up`, cmds: modify(`stacks/${name}/stack.env`, `follow_up_${f}`) });
  }
  for (let d = 0; d < docsOnly; d++) {
    ops.push({ msg: `docs: page ${d}`, cmds: modify(`docs/page-${pad(d * 97, 5)}.md`, "edited") });
  }
  shuffle(ops);
  const range = [...early, ...ops.slice(0, ops.length / 2), deleteStack, ...ops.slice(ops.length / 2)];
  if (range.length !== nCommits) throw new Error(`synthRepo: ${range.length} commits, wanted ${nCommits}`);

  // --- fast-import -------------------------------------------------------------------------------
  rmSync(opts.dir, { recursive: true, force: true });
  mkdirSync(opts.dir, { recursive: true });
  git(opts.dir, ["init", "-q", "--bare", "-b", "main", "."]);
  const child = spawn("git", ["fast-import", "--quiet", "--done"], {
    cwd: opts.dir,
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const write = async (s: string) => {
    if (!child.stdin.write(s)) await new Promise<void>((r) => child.stdin.once("drain", () => r()));
  };
  let when = EPOCH;
  const commit = async (mark: number, msg: string, cmds: Iterable<string>) => {
    const who = `Synth Bench <bench@example.invalid> ${when} +0000`;
    when += 60;
    let head = `commit refs/heads/main\nmark :${mark}\nauthor ${who}\ncommitter ${who}\n${data(msg)}`;
    if (mark > 1) head += `from :${mark - 1}\n`;
    await write(head);
    let chunk = "";
    for (const c of cmds) {
      chunk += c;
      if (chunk.length > 1 << 16) {
        await write(chunk);
        chunk = "";
      }
    }
    await write(`${chunk}\n`);
  };
  await commit(
    1,
    `base: ${nStacks} stacks`,
    (function* () {
      for (const [path, content] of baseSnapshot) yield inline(path, content);
    })(),
  );
  await write("reset refs/tags/bench-base\nfrom :1\n\n");
  let mark = 2;
  for (const op of range)
    await commit(
      mark++,
      op.msg,
      op.cmds.map((c) => (c.endsWith("\n") ? c : `${c}\n`)),
    );
  await write("done\n");
  child.stdin.end();
  const code = await closed;
  if (code !== 0) throw new Error(`git fast-import failed (${code}): ${stderr}`);
  git(opts.dir, ["repack", "-a", "-d", "-q"]);
  git(opts.dir, ["pack-refs", "--all"]);
  const [base, head] = git(opts.dir, ["rev-parse", "refs/tags/bench-base", "refs/heads/main"]).split(
    "\n",
  ) as [string, string];
  const filesAtHead = git(opts.dir, ["ls-tree", "-r", "--name-only", head]).split("\n").length;

  return {
    dir: opts.dir,
    base,
    head,
    stacks: nStacks,
    filesAtBase,
    filesAtHead,
    commits: nCommits,
    expectedChanged: touched.map(stackName).sort(),
    touchKinds,
    stackNames: [...Array(nStacks).keys()].map(stackName),
    configText: config,
    ms: performance.now() - t0,
  };
}

function inline(path: string, content: string): string {
  return `M 100644 inline ${path}\n${data(content)}`;
}

function data(s: string): string {
  return `data ${Buffer.byteLength(s)}\n${s}\n`;
}

function git(cwd: string, args: string[]): string {
  const r = spawnSync("git", args, { cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout.trim();
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node bench/lib/synthRepo.ts DIR");
    process.exit(2);
  }
  const repo = await generateSynthRepo({ dir });
  const { configText: _c, stackNames: _s, ...manifest } = repo;
  console.log(JSON.stringify(manifest, null, 2));
  console.log(`generated in ${(repo.ms / 1000).toFixed(2)} s`);
}
