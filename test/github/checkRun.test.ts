import { describe, expect, it } from "vitest";
import type { Problem } from "../../src/config/problems.ts";
import type { HookRun } from "../../src/deploy/hookSteps.ts";
import {
  bound,
  type DeployResult,
  deployCheckRun,
  fromHostJobResult,
  planCheckRun,
  problemAnnotations,
} from "../../src/github/render/checkRun.ts";
import type { Plan, StackPlan } from "../../src/plan/plan.ts";

const HEAD = "c0ffee0".padEnd(40, "1");

function stack(name: string, action: "deploy" | "skip" | "remove", hosts = ["web-1"]): StackPlan {
  return {
    name,
    path: `stacks/${name}`,
    changed: action !== "skip",
    contentChanged: action !== "skip",
    reasons: action === "skip" ? [] : [`stacks/${name}/compose.yaml modified`],
    files: [],
    targets: hosts.map((host) => ({ host, action, reasons: ["because"] })),
  };
}

/** A plan as buildPlan makes them: errors in `problems` alone stand for an invalid config. */
function plan(stacks: StackPlan[], problems: Problem[] = []): Plan {
  const errors = problems.some((p) => p.severity === "error");
  const brokenChanged = stacks.some((s) => s.broken && s.changed);
  const deployable = !errors || stacks.length > 0;
  const n = (a: string) => stacks.reduce((k, s) => k + s.targets.filter((t) => t.action === a).length, 0);
  return {
    version: 1,
    base: "b".repeat(40),
    head: HEAD,
    ok: !errors && !brokenChanged,
    deployable,
    problems,
    stacks: deployable ? stacks : [],
    summary: {
      stacks: stacks.length,
      changed: stacks.filter((s) => s.changed).length,
      broken: stacks.filter((s) => s.broken).length,
      deploy: n("deploy"),
      skip: n("skip"),
      remove: n("remove"),
    },
  };
}

const problem = (over: Partial<Problem> = {}): Problem => ({
  file: ".github/stackpilot.yml",
  line: 3,
  col: 5,
  key: "stacks[0].hosts",
  message: "bad host",
  severity: "error",
  ...over,
});

describe("planCheckRun", () => {
  it("concludes success for a valid plan and failure for an invalid one", () => {
    const good = planCheckRun(plan([stack("web", "deploy")]), { headSha: HEAD });
    expect(good.params).toMatchObject({
      name: "stackpilot/plan",
      head_sha: HEAD,
      status: "completed",
      conclusion: "success",
    });
    expect(good.params.output.title).toBe("1 to deploy, 0 to remove, 0 to skip");
    const bad = planCheckRun(plan([], [problem()]), { headSha: HEAD });
    expect(bad.params.conclusion).toBe("failure");
    expect(bad.params.output.title).toBe("Configuration errors: 1 error, nothing will be deployed");
  });

  it("passes name, details_url and completed_at through", () => {
    const { params } = planCheckRun(plan([]), {
      name: "custom",
      headSha: HEAD,
      detailsUrl: "https://ghe.example/x",
      completedAt: "2024-01-01T00:00:00Z",
    });
    expect(params).toMatchObject({
      name: "custom",
      details_url: "https://ghe.example/x",
      completed_at: "2024-01-01T00:00:00Z",
    });
    expect(params.output.title).toBe("Nothing to deploy (0 stacks changed)");
  });

  it("keeps the summary within 65,535 characters for a huge plan", () => {
    const many = Array.from({ length: 3000 }, (_, i) => stack(`stack-${i}`, "deploy", ["host-a", "host-b"]));
    const { params } = planCheckRun(plan(many), { headSha: HEAD });
    expect(params.output.summary.length).toBeLessThanOrEqual(65_535);
    expect(params.output.summary).toContain("did not fit");
  });

  it("annotates positioned problems as failures or warnings, with columns on the same line", () => {
    const { params } = planCheckRun(
      plan(
        [],
        [
          problem(),
          problem({
            severity: "warning",
            line: 7,
            col: 0,
            key: "",
            message: "hmm",
            file: "./stacks/a/compose.yaml",
          }),
        ],
      ),
      { headSha: HEAD },
    );
    expect(params.output.annotations).toEqual([
      {
        path: ".github/stackpilot.yml",
        start_line: 3,
        end_line: 3,
        start_column: 5,
        end_column: 5,
        annotation_level: "failure",
        message: "bad host",
        title: "Stackpilot error at stacks[0].hosts",
      },
      {
        path: "stacks/a/compose.yaml",
        start_line: 7,
        end_line: 7,
        annotation_level: "warning",
        message: "hmm",
        title: "Stackpilot warning",
      },
    ]);
  });

  it("leaves problems without a line or with a path outside the repository out of the annotations", () => {
    const out = problemAnnotations([
      problem({ line: 0 }),
      problem({ file: "" }),
      problem({ file: "/etc/passwd" }),
      problem({ file: "../outside.yml" }),
      problem({ file: "C:/x.yml" }),
    ]);
    expect(out).toEqual([]);
  });

  it("sends 120 annotations as batches of 50, 50 and 20, repeating title and summary", () => {
    const problems = Array.from({ length: 120 }, (_, i) => problem({ line: i + 1 }));
    const { params, followUps } = planCheckRun(plan([], problems), { headSha: HEAD });
    expect(params.output.annotations).toHaveLength(50);
    expect(followUps.map((f) => f.output.annotations.length)).toEqual([50, 20]);
    expect(followUps[1]?.output.annotations[0]?.start_line).toBe(101);
    expect(followUps[0]?.output.title).toBe(params.output.title);
    expect(followUps[0]?.output.summary).toBe(params.output.summary);
  });

  it("omits the annotations key when there are none", () => {
    const { params, followUps } = planCheckRun(plan([stack("web", "deploy")]), { headSha: HEAD });
    expect(params.output).not.toHaveProperty("annotations");
    expect(followUps).toEqual([]);
  });

  it("caps annotations per check run and bounds message and title lengths", () => {
    const problems = Array.from({ length: 2000 }, () =>
      problem({ message: "m".repeat(70_000), key: "k".repeat(300) }),
    );
    const out = problemAnnotations(problems);
    expect(out).toHaveLength(500);
    expect(out[0]?.message.length).toBeLessThanOrEqual(4000);
    expect(out[0]?.title?.length).toBeLessThanOrEqual(255);
  });

  it("offers a Deploy button within GitHub's limits only when asked, valid, and something would change", () => {
    const deployable = plan([stack("web", "deploy"), stack("old", "remove")]);
    const { params } = planCheckRun(deployable, { headSha: HEAD, deployAction: true });
    expect(params.actions).toEqual([
      { label: "Deploy", description: "Deploy 2 changes of c0ffee0", identifier: "deploy" },
    ]);
    for (const a of params.actions ?? []) {
      expect(a.label.length).toBeLessThanOrEqual(20);
      expect(a.description.length).toBeLessThanOrEqual(40);
      expect(a.identifier.length).toBeLessThanOrEqual(20);
    }
    expect(planCheckRun(deployable, { headSha: HEAD }).params.actions).toBeUndefined();
    expect(
      planCheckRun(plan([stack("web", "skip")]), { headSha: HEAD, deployAction: true }).params.actions,
    ).toBeUndefined();
    expect(
      planCheckRun(plan([stack("web", "deploy")], [problem()]), { headSha: HEAD, deployAction: true }).params
        .actions,
    ).toBeUndefined();
  });
});

describe("planCheckRun with a broken stack", () => {
  const compose = problem({
    file: "stacks/db/compose.yaml",
    line: 4,
    col: 5,
    key: "",
    message: "duplicate key",
  });
  /** db broken by its compose file (changed in the range or not), web deploying. */
  const withBroken = (changed: boolean) => {
    const db: StackPlan = {
      ...stack("db", "skip"),
      changed,
      broken: [compose],
      targets: [
        { host: "web-1", action: "skip", reasons: ["broken: stacks/db/compose.yaml:4:5 duplicate key"] },
      ],
    };
    const reported = changed
      ? { ...compose, message: 'duplicate key (stack "db" is broken: not deployed)' }
      : {
          ...compose,
          severity: "warning" as const,
          message: 'duplicate key (stack "db" is broken and not deployed; unchanged in this range)',
        };
    return plan([stack("web", "deploy"), db], [reported]);
  };

  it("fails when the range changes the broken stack, annotating its error as a failure", () => {
    const { params } = planCheckRun(withBroken(true), { headSha: HEAD, deployAction: true });
    expect(params.conclusion).toBe("failure");
    expect(params.output.title).toBe("1 broken stack not deployed; 1 to deploy, 0 to remove, 1 to skip");
    expect(params.output.annotations).toMatchObject([
      { path: "stacks/db/compose.yaml", start_line: 4, annotation_level: "failure" },
    ]);
    expect(params.actions).toBeUndefined();
    expect(params.output.summary).toContain("1 stack is broken and will not be deployed");
  });

  it("succeeds when the broken stack is untouched, with a warning and the Deploy button for the others", () => {
    const { params } = planCheckRun(withBroken(false), { headSha: HEAD, deployAction: true });
    expect(params.conclusion).toBe("success");
    expect(params.output.title).toBe("1 broken stack not deployed; 1 to deploy, 0 to remove, 1 to skip");
    expect(params.output.annotations).toMatchObject([
      { path: "stacks/db/compose.yaml", start_line: 4, annotation_level: "warning" },
    ]);
    expect(params.actions?.map((a) => a.identifier)).toEqual(["deploy"]);
  });
});

describe("deployCheckRun", () => {
  const done = (
    stack: string,
    host: string,
    conclusion: DeployResult["conclusion"],
    error?: string,
  ): DeployResult => ({
    stack,
    host,
    status: "completed",
    conclusion,
    ...(error ? { error } : {}),
  });

  it("is queued while nothing started and in progress while anything runs, without a conclusion", () => {
    const queued = deployCheckRun("production", [{ stack: "web", host: "a", status: "queued" }], {
      headSha: HEAD,
    });
    expect(queued.params).toMatchObject({ name: "stackpilot/deploy: production", status: "queued" });
    expect(queued.params).not.toHaveProperty("conclusion");
    const running = deployCheckRun(
      "production",
      [done("web", "a", "success"), { stack: "web", host: "b", status: "in_progress" }],
      { headSha: HEAD, completedAt: "2024-01-01T00:00:00Z" },
    );
    expect(running.params.status).toBe("in_progress");
    expect(running.params).not.toHaveProperty("conclusion");
    expect(running.params).not.toHaveProperty("completed_at");
    expect(running.params.output.title).toBe("Deploying to production: 1 of 2 done");
  });

  it("fails when any target failed and lists each stack × host with its error", () => {
    const { params } = deployCheckRun(
      "staging",
      [done("web", "a", "success"), done("web", "b", "failure", "compose up: exit 1 | <script>")],
      { headSha: HEAD },
    );
    expect(params).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(params.output.title).toBe("Deploy to staging failed on 1 of 2");
    expect(params.output.summary).toContain("| `web` | `a` | deploy | ✅ success |");
    expect(params.output.summary).toContain("❌ failure");
    expect(params.output.summary).toContain("compose up: exit 1 \\| \\<script\\>");
  });

  it("puts each failure's error whole in the details, fenced so nothing in it renders", () => {
    const error = "b: `docker-compose up -d` exited with 1:\n```\nERROR: no space left on device";
    const { params } = deployCheckRun(
      "staging",
      [done("web", "a", "success"), done("web", "b", "failure", error)],
      { headSha: HEAD },
    );
    expect(params.output.text).toBe(
      `### Failures\n\n#### \`web\` on \`b\`\n\n\`\`\`\`text\n${error}\n\`\`\`\`\n`,
    );
    const ok = deployCheckRun("staging", [done("web", "a", "success")], { headSha: HEAD });
    expect(ok.params.output).not.toHaveProperty("text");
  });

  it("succeeds when everything succeeded, and says so when there was nothing to do", () => {
    const ok = deployCheckRun("staging", [done("web", "a", "success")], { headSha: HEAD });
    expect(ok.params).toMatchObject({
      conclusion: "success",
      output: { title: "Deployed to staging: 1 target succeeded" },
    });
    const none = deployCheckRun("staging", [], { headSha: HEAD });
    expect(none.params).toMatchObject({
      status: "completed",
      conclusion: "success",
      output: { title: "Nothing to deploy to staging" },
    });
  });

  it("keeps a summary of thousands of long failures within the limit and counts what was left out", () => {
    const results = Array.from({ length: 5000 }, (_, i) =>
      done(`stack-${i}`, "host", "failure", "e".repeat(10_000)),
    );
    const { params } = deployCheckRun("production", results, { headSha: HEAD });
    expect(params.output.summary.length).toBeLessThanOrEqual(65_535);
    expect(params.output.summary).toMatch(/_…\d+ more rows did not fit\._/);
    const text = params.output.text ?? "";
    expect(text.length).toBeLessThanOrEqual(65_535);
    expect(text).toMatch(/_…\d+ more failures did not fit\._\n$/);
    // Each error shows its end (the cause), cut to 4,000 characters.
    expect(text).toContain(`\`\`\`text\n…${"e".repeat(4000)}\n\`\`\`\n`);
  });

  it("lists each target's hook attempts with the end of their output, fenced so nothing in it renders", () => {
    const run = (over: Partial<HookRun>): HookRun => ({
      hook: "pre_deploy",
      attempt: 1,
      required: true,
      status: "succeeded",
      exitCode: 0,
      durationMs: 1500,
      output: "",
      ...over,
    });
    const output = `${"x".repeat(3000)}\n\`\`\`\n<script>@team</script>\n`;
    const { params } = deployCheckRun(
      "staging",
      [
        {
          ...done("web", "a", "failure", "pre_deploy hook failed"),
          hooks: [
            run({ status: "failed", exitCode: 3, output }),
            run({ attempt: 2, status: "timed_out", exitCode: null, durationMs: 35_000 }),
            run({ hook: "on_failure", required: false, output: "notified\n" }),
          ],
        },
      ],
      { headSha: HEAD },
    );
    const text = params.output.text ?? "";
    const hooks = text.slice(text.indexOf("### Hooks"));
    expect(hooks).toContain("#### `web` on `a`");
    expect(hooks).toContain("- `pre_deploy` attempt 1: failed (exit status 3), 1.5 s\n");
    expect(hooks).toContain("- `pre_deploy` attempt 2: timed out after 35 s, 35.0 s\n");
    expect(hooks).toContain(
      "- `on_failure` attempt 1: succeeded (not required), 1.5 s\n\n```text\nnotified\n```",
    );
    // The end of the output (1,500 characters), in a fence longer than any run of backticks in it.
    expect(hooks).toContain(
      `\`\`\`\`text\n…${"x".repeat(1500 - 27)}\n\`\`\`\n<script>@team</script>\n\`\`\`\`\n`,
    );
  });

  it("keeps the hooks of thousands of targets within the limit and counts the targets left out", () => {
    const hooks: HookRun[] = [
      {
        hook: "post_deploy",
        attempt: 1,
        required: true,
        status: "succeeded",
        exitCode: 0,
        durationMs: 10,
        output: "y".repeat(5000),
      },
    ];
    const results = Array.from({ length: 3000 }, (_, i) => ({ ...done(`s-${i}`, "h", "success"), hooks }));
    const { params } = deployCheckRun("production", results, { headSha: HEAD });
    const text = params.output.text ?? "";
    expect(text.length).toBeLessThanOrEqual(65_535);
    expect(text).toMatch(
      /_…hooks of \d+ more targets did not fit; `stackpilot status --deployment ID` shows them\._\n$/,
    );
  });

  it("maps orchestrator results: rolled back is a failure, removed is a success", () => {
    expect(
      fromHostJobResult({ stack: "s", host: "h", action: "deploy", status: "rolled_back", durationMs: 1500 }),
    ).toEqual({
      stack: "s",
      host: "h",
      action: "deploy",
      status: "completed",
      conclusion: "failure",
      durationMs: 1500,
      error: "rolled back",
    });
    expect(
      fromHostJobResult({ stack: "s", host: "h", action: "remove", status: "removed", durationMs: 1 })
        .conclusion,
    ).toBe("success");
  });
});

describe("bound", () => {
  it("never splits a surrogate pair when cutting", () => {
    const out = bound(`${"a".repeat(8)}😀😀`, 10);
    expect(out).toBe(`${"a".repeat(8)}…`);
    expect(out.length).toBeLessThanOrEqual(10);
  });
});
