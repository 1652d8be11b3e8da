/**
 * Issue 5 benchmark: a stack with `build:` deployed twice on real hosts (h1 builds and pushes to
 * the harness registry, h2 and h3 pull and run it). The first deploy builds; the second changes
 * only the compose file (build inputs unchanged) and must build and push nothing.
 * Reported side by side: wall time of each deploy, and the builds and pushes each one ran
 * (counted from the state database: build records and every recorded command), medians of ROUNDS.
 *
 *   npm run bench -- images        (needs root: it starts the e2e test hosts)
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { openStore } from "../src/state/store.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness } from "../test/e2e/harness/harness.ts";
import { deployArgs, runCli } from "../test/helpers/cli.ts";
import { fmtMs, fmtRatio, median, table } from "./deployLib/stats.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const tmp = mkdtempSync(join(tmpdir(), "sp-bench-images-"));
const log = (m: string) => process.stderr.write(`[images] ${m}\n`);

interface Deploy {
  ms: number;
  builds: number;
  pushes: number;
  buildCommands: number;
}

let harness: Harness | undefined;
const first: Deploy[] = [];
const second: Deploy[] = [];
try {
  log("starting the harness (3 hosts)");
  harness = await startHarness({ hosts: 3 });
  const h = harness;
  for (let round = 1; round <= ROUNDS; round++) {
    // A fresh repository, state and image name per round: every first deploy really builds.
    const dir = join(tmp, `round${round}`);
    const repoDir = makeRepo(join(dir, "repo"), h, round);
    const dataDir = join(dir, "data");
    const hostsFile = writeHosts(join(dir, "hosts.yml"), h);
    const deploy = () => measure(repoDir, hostsFile, dataDir);
    const a = await deploy();
    edit(join(repoDir, "stacks/app/compose.yaml"), (t) =>
      t.replace("    init: true\n", `    init: true\n    environment:\n      ROUND: "${round}"\n`),
    );
    git(repoDir, "commit", "-qam", "app: environment only");
    const b = await deploy();
    first.push(a);
    second.push(b);
    log(
      `round ${round}: first ${fmtMs(a.ms)} (${a.builds} build), second ${fmtMs(b.ms)} (${b.builds} build)`,
    );
  }
} finally {
  await harness?.stop();
  rmSync(tmp, { recursive: true, force: true });
}

const med = (xs: Deploy[], k: keyof Deploy) => median(xs.map((x) => x[k]));
const countRow = (label: string, k: keyof Deploy) => [
  label,
  String(med(first, k)),
  String(med(second, k)),
  "",
  "second: 0",
  med(second, k) === 0 ? "yes" : "NO",
];
console.log(
  table(
    ["metric", "first deploy (builds)", "second deploy (inputs unchanged)", "ratio", "target", "met?"],
    [
      [
        `wall time, median of ${ROUNDS}`,
        fmtMs(med(first, "ms")),
        fmtMs(med(second, "ms")),
        fmtRatio(med(second, "ms") / med(first, "ms")),
        "report",
        "-",
      ],
      countRow("image builds (build records)", "builds"),
      countRow("`docker build` commands run", "buildCommands"),
      countRow("`docker push` commands run", "pushes"),
    ],
  ),
);
process.exit(second.every((d) => d.builds === 0 && d.pushes === 0 && d.buildCommands === 0) ? 0 : 1);

async function measure(repoDir: string, hostsFile: string, dataDir: string): Promise<Deploy> {
  const before = await counts(repoDir, dataDir);
  const t0 = performance.now();
  const { code, out } = await runCli(
    ...deployArgs({ repo: repoDir, hosts: hostsFile, data: dataDir, healthTimeoutS: 60 }),
  );
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`deploy failed (exit ${code}):\n${out}`);
  const after = await counts(repoDir, dataDir);
  return {
    ms,
    builds: after.builds - before.builds,
    pushes: after.pushes - before.pushes,
    buildCommands: after.buildCommands - before.buildCommands,
  };
}

/** Builds recorded, and `docker build` / `docker push` lines in every recorded log so far. */
async function counts(repoDir: string, dataDir: string) {
  mkdirSync(dataDir, { recursive: true });
  const store = await openStore({ dataDir });
  try {
    const builds = await store.listBuilds(repoDir, 1000);
    const logs = builds.map((b) => b.log).join("\n");
    for (const d of await store.listDeployments({ limit: 1000 })) {
      for (const l of (await store.getDeployment(d.id))?.logs ?? []) {
        if (/docker (build|push)/.test(l.command)) throw new Error(`a deploy host ran ${l.command}`);
      }
    }
    return {
      builds: builds.length,
      buildCommands: (logs.match(/^\$ docker build /gm) ?? []).length,
      pushes: (logs.match(/^\$ docker push /gm) ?? []).length,
    };
  } finally {
    await store.close();
  }
}

function makeRepo(repoDir: string, h: Harness, round: number): string {
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(repoDir, path)), { recursive: true });
    writeFileSync(join(repoDir, path), text);
  };
  mkdirSync(repoDir, { recursive: true });
  git(repoDir, "init", "-q", "-b", "main");
  write(".github/stackpilot.yml", "version: 1\nstacks:\n  - name: app\n    hosts: [{ role: app }]\n");
  write(
    "stacks/app/compose.yaml",
    sleeperCompose("web", ["build:", "  context: ../../apps/web", "  network: none"]),
  );
  write("apps/web/Dockerfile", `FROM ${h.registry.image}\nCOPY site /site\n`);
  // A few hundred KiB of site: a build and a push that have something to carry.
  for (let i = 0; i < 50; i++)
    write(`apps/web/site/page${i}.html`, `<p>round ${round} page ${i}</p>\n${"x".repeat(4096)}\n`);
  git(repoDir, "add", "-A");
  git(repoDir, "commit", "-qm", "app");
  return repoDir;
}

function writeHosts(path: string, h: Harness): string {
  const roles = ["builder", "app", "app"];
  const hosts = h.hosts.map((t, i) => hostEntry(t, { labels: { role: roles[i] }, builder: i === 0 }));
  const registries = [{ name: "bench", address: h.registry.address, namespace: `bench${Date.now()}` }];
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ hosts, registries }, null, 2));
  return path;
}

function edit(path: string, fn: (text: string) => string) {
  writeFileSync(path, fn(readFileSync(path, "utf8")));
}

function git(cwd: string, ...args: string[]) {
  return execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", ...args], {
    cwd,
    encoding: "utf8",
  });
}
