// What moved in a plan's mounted repositories (sources, submodules), as the PR sees it: the plan
// check run's summary and the sticky comment's plan section list each one with its commits and
// the number of files that changed in it, through the same line as `stackpilot plan`.
import { describe, expect, it } from "vitest";
import { composePlan } from "../../src/github/api/prComment.ts";
import { planCheckRun } from "../../src/github/render/checkRun.ts";
import type { Plan, PlanMount } from "../../src/plan/plan.ts";
import { renderMarkdown } from "../../src/plan/render/markdown.ts";
import { renderText } from "../../src/plan/render/text.ts";
import { HOSTILE, inertnessProblems } from "../helpers/githubMarkdown.ts";

const A = "a1b2c3d4".padEnd(40, "0");
const B = "d4e5f6a7".padEnd(40, "1");
const C = "c0ffee00".padEnd(40, "2");

function planWith(mounts: PlanMount[]): Plan {
  return {
    version: 1,
    base: "e".repeat(40),
    head: "f".repeat(40),
    ok: true,
    deployable: true,
    problems: [],
    stacks: [
      {
        name: "cfg",
        path: "stacks/cfg",
        changed: true,
        contentChanged: true,
        reasons: ["vendor/utils/conf/app.env modified (env_file of service cfg)"],
        files: [],
        targets: [{ host: "h1", action: "deploy", reasons: ["content changed"] }],
      },
    ],
    mounts,
    summary: { stacks: 1, changed: 1, broken: 0, deploy: 1, skip: 0, remove: 0 },
  };
}

const MOUNTS: PlanMount[] = [
  { kind: "source", name: "utils", path: "vendor/utils", repository: "acme/utils", from: A, to: B, files: 3 },
  {
    kind: "submodule",
    name: "vendor/tools",
    path: "vendor/tools",
    repository: "acme/tools",
    to: C,
    files: 1,
  },
  { kind: "source", name: "old", path: "vendor/old", repository: "acme/old", from: A, files: 2 },
];

/** The three lines as markdown: ">" escaped, nothing else of them is markup. */
const EXPECTED = [
  "- source utils: a1b2c3d -\\> d4e5f6a (3 files)\n",
  "- submodule vendor/tools: added at c0ffee0 (1 file)\n",
  "- source old: removed (2 files)\n",
];

describe("mounted repositories in the plan's markdown", () => {
  it("lists each moved source and submodule with its commits and changed files, as the CLI plan does", () => {
    const plan = planWith(MOUNTS);
    expect(renderText(plan)).toContain("  source utils: a1b2c3d -> d4e5f6a (3 files)\n");
    const md = renderMarkdown(plan);
    for (const line of EXPECTED) expect(md).toContain(line);
    // Above the totals, where a reviewer reads first.
    expect(md.indexOf("source utils")).toBeLessThan(md.indexOf("stacks changed"));
  });

  it("puts them in the plan check run's summary and in the sticky comment's plan section", () => {
    const plan = planWith(MOUNTS);
    const summary = planCheckRun(plan, { headSha: plan.head }).params.output.summary;
    const comment = composePlan(undefined, plan);
    for (const line of EXPECTED) {
      expect(summary).toContain(line);
      expect(comment).toContain(line);
    }
  });

  it("keeps hostile source names and submodule paths inert", () => {
    const plan = planWith(
      HOSTILE.map((h, i) => ({
        kind: i % 2 ? ("source" as const) : ("submodule" as const),
        name: h,
        path: h,
        repository: h,
        from: A,
        to: B,
        files: i,
      })),
    );
    expect(inertnessProblems(renderMarkdown(plan))).toEqual([]);
    expect(inertnessProblems(composePlan(undefined, plan))).toEqual([]);
  });

  it("says nothing of mounted repositories when none moved", () => {
    expect(renderMarkdown(planWith([]))).not.toMatch(/source |submodule /);
  });
});
