/**
 * `/ping` while a hostile plan runs. A server in this process answers `/ping` the way the App
 * does; a client in another process asks it sequentially for a few seconds and reports each
 * answer's latency. Three phases, in one run:
 * - idle: no plan;
 * - the App as built: the hostile plan (hostile.bench.ts's inputs, cold each time) in a loop on the
 *   planner thread (a new thread per plan, so every plan is cold);
 * - the baseline: the same plan in a loop on the main thread, as the App planned before.
 * Target: p99 while a hostile plan runs at most 50 ms.
 *
 *   npm run bench -- ping        knobs: BENCH_PHASE_S (default 8)
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ParseCache } from "../src/detect/snapshot.ts";
import { GitRepo } from "../src/git/repo.ts";
import { Planner } from "../src/plan/planner.ts";
import { type PlanRequest, runPlanRequest } from "../src/plan/planRequest.ts";
import { aliasHeavy, bigMapping, deep, makeHostileRepo } from "./lib/hostileRepo.ts";
import { fmtMs, summarize, table } from "./lib/stats.ts";
import { quantile } from "./webhooksLib/load.ts";

const PHASE_MS = Number(process.env.BENCH_PHASE_S ?? 8) * 1000;
const log = (s: string) => process.stderr.write(`[ping] ${s}\n`);

const tmp = mkdtempSync(join(tmpdir(), "sp-bench-ping-"));
try {
  await main();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const dir = join(tmp, "repo.git");
  const commits = makeHostileRepo(dir, { big: bigMapping(), aliases: aliasHeavy(), deep: deep() }, log);
  const request: PlanRequest = {
    repoDir: dir,
    defaultBranch: "clean",
    range: { base: commits.root, head: commits.hostile },
    hosts: [],
    deployed: [],
    inventory: { hosts: [], registries: [] },
    repoId: "acme/hostile",
    builds: [],
    pulls: true,
  };
  const server = createServer((req, res) => {
    if (req.url === "/ping") res.writeHead(200, { "content-type": "text/plain" }).end("PONG");
    else res.writeHead(404).end();
  });
  // A blocked event loop fires the idle-socket timer late, just as the client reuses the socket
  // (ECONNRESET): keep sockets for the whole run, so a stall shows as latency, not as an error.
  server.keepAliveTimeout = 600_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const idle = await pings(port);
    log(`idle: ${idle.length} answers`);
    let plans = 0;
    const threaded = await whilePlanning(port, async () => {
      const planner = new Planner({ budgetMs: 120_000 });
      try {
        await planner.plan(request);
        plans++;
      } finally {
        await planner.close();
      }
    });
    log(`planner thread: ${threaded.length} answers over ${plans} hostile plans`);
    let inline = 0;
    const repo = new GitRepo(dir);
    const blocked = await whilePlanning(port, async () => {
      await runPlanRequest(repo, request, new ParseCache());
      inline++;
    });
    log(`main thread: ${blocked.length} answers over ${inline} hostile plans`);
    const p99 = (ms: number[]) =>
      quantile(
        [...ms].sort((a, b) => a - b),
        0.99,
      );
    const row = (name: string, ms: number[], n: number | string) => {
      const s = summarize(ms);
      return [name, String(n), String(ms.length), fmtMs(s.median), fmtMs(p99(ms)), fmtMs(s.max)];
    };
    console.log("");
    console.log(
      table(
        ["/ping answered while ...", "plans", "answers", "p50", "p99", "max"],
        [
          row("idle (baseline)", idle, "-"),
          row("a hostile plan runs on the planner thread (the App)", threaded, plans),
          row("the same plan runs on the main thread (before)", blocked, inline),
        ],
      ),
    );
    console.log(
      `\ntarget: p99 while a hostile plan runs <= 50 ms: ${p99(threaded) <= 50 ? "met" : "NOT met"}`,
    );
  } finally {
    server.close();
  }
}

/** Pings while `plan` runs again and again, for one phase. */
async function whilePlanning(port: number, plan: () => Promise<void>): Promise<number[]> {
  let stop = false;
  const loop = (async () => {
    while (!stop) await plan();
  })();
  // Let the first plan get going before the client starts asking.
  await new Promise((r) => setTimeout(r, 200));
  const answers = await pings(port);
  stop = true;
  await loop;
  return answers;
}

/** Latencies (ms) of sequential pings from another process, for one phase. */
function pings(port: number): Promise<number[]> {
  const script = `
    const until = Date.now() + ${PHASE_MS};
    const out = [];
    while (Date.now() < until) {
      const t = performance.now();
      const r = await fetch("http://127.0.0.1:${port}/ping");
      await r.text();
      out.push(performance.now() - t);
    }
    console.log(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`ping client exited ${code}`)),
    );
  });
}
