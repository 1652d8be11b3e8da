// The planner thread: the same plan as in this thread, a plan over its budget stopped with the
// stack it was on while this thread keeps answering, and the next plan on a fresh thread.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSynthRepo, type SynthRepo } from "../../bench/lib/synthRepo.ts";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { PlanBudgetError, Planner } from "../../src/plan/planner.ts";
import { type PlanRequest, runPlanRequest } from "../../src/plan/planRequest.ts";

let tmp: string;
let synth: SynthRepo;
let small: SynthRepo;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "sp-planner-"));
  synth = await generateSynthRepo({ dir: join(tmp, "repo.git"), stacks: 1000, files: 20_000 });
  small = await generateSynthRepo({
    dir: join(tmp, "small.git"),
    stacks: 40,
    files: 800,
    commits: 20,
    touched: 12,
  });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const request = (repo = synth): PlanRequest => ({
  repoDir: repo.dir,
  defaultBranch: "main",
  range: { base: repo.base, head: repo.head },
  hosts: [{ name: "h1", labels: {} }],
  deployed: [],
  inventory: { hosts: [], registries: [] },
  repoId: "acme/synth",
  builds: [],
  pulls: true,
});

describe("the planner thread", () => {
  it("plans exactly what a plan in this thread gives", async () => {
    const planner = new Planner();
    try {
      const there = await planner.plan(request());
      const here = await runPlanRequest(new GitRepo(synth.dir), request(), new ParseCache());
      expect(there.plan).toEqual(here.plan);
      expect(there.plan.stacks.filter((s) => s.changed).map((s) => s.name)).toEqual(synth.expectedChanged);
      expect([...there.head.stacks.keys()]).toEqual([...here.head.stacks.keys()]);
      expect(there.policy.branch).toBe("main");
    } finally {
      await planner.close();
    }
  }, 120_000);

  it("stops a plan over its budget, naming the stack it was on, while this thread keeps answering; the next plan gets a fresh thread", async () => {
    // How long a plan on a thread warmed as below takes here to reach its first stack and to end;
    // a budget halfway between is past reading the tree and well before the end, however loaded
    // the machine. Measured twice, the second time as the stopped plan will run: the repository's
    // files in the page cache already, on a thread that planned only the small repository.
    const measure = async () => {
      let firstStackMs: number | undefined;
      let t0 = 0;
      const timing = new Planner({
        onProgress: () => {
          firstStackMs ??= performance.now() - t0;
        },
      });
      try {
        await timing.plan(request(small));
        firstStackMs = undefined;
        t0 = performance.now();
        await timing.plan(request());
        return { firstStackMs: firstStackMs ?? 0, endMs: performance.now() - t0 };
      } finally {
        await timing.close();
      }
    };
    await measure();
    const { firstStackMs, endMs } = await measure();
    const budget = Math.round((firstStackMs + endMs) / 2);
    const planner = new Planner();
    // The thread started and warm on another repository: the budget goes to the plan itself.
    await planner.plan(request(small));
    // This thread's timers keep firing while the planner grinds: the largest gap between ticks.
    let last = performance.now();
    let worstGapMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      worstGapMs = Math.max(worstGapMs, now - last);
      last = now;
    }, 5);
    try {
      const err = await planner.plan(request(), budget).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PlanBudgetError);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^planning acme/synth at [0-9a-f]{12} took longer than its (${budget} ms|\\d+ s) budget, while working on stack s\\d{4}: nothing was deployed`,
        ),
      );
      expect(worstGapMs).toBeLessThan(100);
    } finally {
      clearInterval(ticker);
    }
    // With its default budget the same planner plans it, on a new thread.
    try {
      expect((await planner.plan(request())).plan.summary.stacks).toBeGreaterThan(900);
    } finally {
      await planner.close();
    }
  }, 120_000);
});
