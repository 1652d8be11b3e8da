import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { definitionOf } from "../../src/procedures/definition.ts";
import { runDefinition, type StepContext, type StepOutcome } from "../../src/procedures/engine.ts";
import type { StepRecord, StepUpdate } from "../../src/state/procedureRuns.ts";

/** A ledger in memory, recording every update in order. */
function memoryLedger(initial: StepRecord[] = []) {
  const steps = new Map(initial.map((s) => [s.path, { ...s }]));
  const log: string[] = [];
  return {
    steps,
    log,
    ledger: {
      async setStep(path: string, u: StepUpdate) {
        const prev = steps.get(path);
        if (prev && ["succeeded", "failed", "skipped"].includes(prev.status)) return false;
        steps.set(path, {
          runId: 1,
          path,
          kind: u.kind,
          name: u.name,
          status: u.status,
          reason: u.reason ?? prev?.reason ?? null,
          error: u.error ?? null,
          detail: { ...prev?.detail, ...u.detail },
          attempts: (prev?.attempts ?? 0) + (u.status === "running" ? 1 : 0),
          startedAt: null,
          finishedAt: null,
        });
        log.push(`${path} ${u.status}`);
        return true;
      },
      async addStepDetail(path: string, detail: Record<string, unknown>) {
        const prev = steps.get(path);
        if (prev) prev.detail = { ...prev.detail, ...detail };
      },
    },
  };
}

const definition = (yaml: string, root: string) => {
  const { config, problems } = loadRepoConfig(yaml);
  expect(problems).toEqual([]);
  const def = definitionOf(new Map(Object.entries(config.procedures)), root);
  if (!def) throw new Error(`no procedure ${root}`);
  return def;
};

/** A runner whose hooks succeed unless their command is ["fail"], recording when each ran. */
function scriptedRunner(opts: { gate?: Promise<void> } = {}) {
  const ran: string[] = [];
  let active = 0;
  let peak = 0;
  return {
    ran,
    peak: () => peak,
    runner: {
      async run(ctx: StepContext): Promise<StepOutcome> {
        const s = ctx.step;
        const cmd = "hook" in s ? s.hook.run : [];
        ran.push(ctx.path);
        active++;
        peak = Math.max(peak, active);
        await (opts.gate ?? Promise.resolve());
        await new Promise((r) => setTimeout(r, 5));
        active--;
        return Array.isArray(cmd) && cmd[0] === "fail"
          ? { status: "failed", error: "exit 1" }
          : { status: "succeeded" };
      },
    },
  };
}

const hook = (cmd: string, extra = "") => `          - hook: { run: ["${cmd}"], hosts: ["*"] }${extra}`;

describe("the procedure engine", () => {
  it("runs stages in order and a stage's steps in parallel, within max_parallel", async () => {
    const def = definition(
      [
        "procedures:",
        "  p:",
        "    stages:",
        "      - name: one",
        "        max_parallel: 2",
        "        steps:",
        hook("a"),
        hook("b"),
        hook("c"),
        "      - name: two",
        "        steps:",
        hook("d"),
      ].join("\n"),
      "p",
    );
    const { ledger, log } = memoryLedger();
    const r = scriptedRunner();
    const out = await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(),
      ledger,
      runner: r.runner,
    });
    expect(out.failed).toBe(false);
    expect(r.peak()).toBe(2);
    expect(r.ran.indexOf("1.0")).toBe(3);
    expect(log.at(-1)).toBe("1 succeeded");
  });

  it("a failed step fails its stage: running siblings finish, unstarted ones and later stages are skipped", async () => {
    const def = definition(
      [
        "procedures:",
        "  p:",
        "    stages:",
        "      - name: one",
        "        max_parallel: 2",
        "        steps:",
        hook("fail"),
        hook("b"),
        hook("c"),
        "      - name: two",
        "        steps:",
        hook("d"),
        "      - name: on-failure",
        "        if: failure",
        "        steps:",
        hook("e"),
        "      - name: always",
        "        if: always",
        "        steps:",
        hook("f"),
      ].join("\n"),
      "p",
    );
    const { ledger, steps } = memoryLedger();
    const r = scriptedRunner();
    const out = await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(),
      ledger,
      runner: r.runner,
    });
    expect(out.failed).toBe(true);
    expect(steps.get("0.0")?.status).toBe("failed");
    expect(steps.get("0.1")?.status).toBe("succeeded"); // already running when 0.0 failed
    expect(steps.get("0.2")).toMatchObject({
      status: "skipped",
      reason: "an earlier step of this stage failed",
    });
    expect(steps.get("0")?.status).toBe("failed");
    expect(steps.get("1")).toMatchObject({ status: "skipped", reason: "an earlier stage failed" });
    expect(steps.get("2")?.status).toBe("succeeded");
    expect(steps.get("3")?.status).toBe("succeeded");
    expect(r.ran).not.toContain("1.0");
  });

  it("continue_on_error keeps the stage and the run going; if: failure then has nothing to run after", async () => {
    const def = definition(
      [
        "procedures:",
        "  p:",
        "    stages:",
        "      - name: one",
        "        steps:",
        hook("fail", "\n            continue_on_error: true"),
        "      - name: two",
        "        steps:",
        hook("b"),
        "      - name: cleanup",
        "        if: failure",
        "        steps:",
        hook("c"),
      ].join("\n"),
      "p",
    );
    const { ledger, steps } = memoryLedger();
    const out = await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(),
      ledger,
      runner: scriptedRunner().runner,
    });
    expect(out.failed).toBe(false);
    expect(steps.get("0.0")?.reason).toMatch(/^failed; continue_on_error/);
    expect(steps.get("1")?.status).toBe("succeeded");
    expect(steps.get("2")).toMatchObject({
      status: "skipped",
      reason: "if: failure, and no earlier stage failed",
    });
  });

  it("when_modified runs a step only when the range changed a matching file; without a range it runs", async () => {
    const yaml = [
      "procedures:",
      "  p:",
      "    stages:",
      "      - name: one",
      "        steps:",
      hook("a", '\n            when_modified: ["db/**"]'),
      hook("b", '\n            when_modified: [".github/**"]'),
    ].join("\n");
    const { ledger, steps } = memoryLedger();
    await runDefinition({
      definition: definition(yaml, "p"),
      changed: [".github/stackpilot.yml"],
      recorded: new Map(),
      ledger,
      runner: scriptedRunner().runner,
    });
    expect(steps.get("0.0")).toMatchObject({
      status: "skipped",
      reason: "when_modified: no changed file matches db/**",
    });
    expect(steps.get("0.1")?.status).toBe("succeeded");
    const again = memoryLedger();
    await runDefinition({
      definition: definition(yaml, "p"),
      changed: undefined,
      recorded: new Map(),
      ledger: again.ledger,
      runner: scriptedRunner().runner,
    });
    expect(again.steps.get("0.0")?.status).toBe("succeeded");
  });

  it("a resumed run does no step that ended again and goes on at the next one", async () => {
    const def = definition(
      [
        "procedures:",
        "  p:",
        "    stages:",
        "      - name: one",
        "        steps:",
        hook("a"),
        hook("b"),
        "      - name: two",
        "        steps:",
        hook("c"),
      ].join("\n"),
      "p",
    );
    const rec = (path: string, status: StepRecord["status"], kind = "hook"): StepRecord => ({
      runId: 1,
      path,
      kind,
      name: path,
      status,
      reason: null,
      error: null,
      detail: {},
      attempts: 1,
      startedAt: null,
      finishedAt: null,
    });
    // The first attempt died with 0.0 done and 0.1 running.
    const recorded = [rec("0", "running", "stage"), rec("0.0", "succeeded"), rec("0.1", "running")];
    const { ledger, steps } = memoryLedger(recorded);
    const r = scriptedRunner();
    const out = await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(recorded.map((s) => [s.path, s])),
      ledger,
      runner: r.runner,
    });
    expect(out.failed).toBe(false);
    expect(r.ran).toEqual(["0.1", "1.0"]);
    expect(steps.get("0.1")?.attempts).toBe(2);
  });

  it("runs a nested procedure's stages as one step, its failure failing that step", async () => {
    const def = definition(
      [
        "procedures:",
        "  outer:",
        "    stages:",
        "      - name: one",
        "        steps:",
        "          - procedure: inner",
        "  inner:",
        "    stages:",
        "      - name: in",
        "        steps:",
        hook("fail"),
      ].join("\n"),
      "outer",
    );
    const { ledger, steps } = memoryLedger();
    const out = await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(),
      ledger,
      runner: scriptedRunner().runner,
    });
    expect(out.failed).toBe(true);
    expect(steps.get("0.0/0.0")?.status).toBe("failed");
    expect(steps.get("0.0")).toMatchObject({ status: "failed", reason: "procedure inner failed" });
  });

  it("a resumed sleep waits only what is left of the time it first recorded", async () => {
    const def = definition(
      [
        "procedures:",
        "  p:",
        "    stages:",
        "      - name: s",
        "        steps:",
        "          - sleep: 60",
      ].join("\n"),
      "p",
    );
    const now = 1_000_000;
    const recorded: StepRecord[] = [
      {
        runId: 1,
        path: "0.0",
        kind: "sleep",
        name: "sleep",
        status: "running",
        reason: null,
        error: null,
        detail: { until: now + 15_000 },
        attempts: 1,
        startedAt: null,
        finishedAt: null,
      },
    ];
    const { ledger } = memoryLedger(recorded);
    const waited: number[] = [];
    await runDefinition({
      definition: def,
      changed: undefined,
      recorded: new Map(recorded.map((s) => [s.path, s])),
      ledger,
      runner: scriptedRunner().runner,
      now: () => now,
      wait: async (ms) => {
        waited.push(ms);
      },
    });
    expect(waited).toEqual([15_000]);
  });
});
