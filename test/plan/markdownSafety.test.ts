// A repository names its own files, directories and compose services: none of those names may
// mention anyone, reference an issue, inject HTML or break a table in the plan we post.
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { renderMarkdown } from "../../src/plan/render/markdown.ts";
import { HOSTILE, inertnessProblems } from "../helpers/githubMarkdown.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

describe("the plan as markdown", () => {
  const t = new TestRepo();
  afterAll(() => rmSync(t.dir, { recursive: true, force: true }));

  it("a file named `@someone ...` changed in a stack mentions nobody", async () => {
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx\n" }).commit("base");
    const files = Object.fromEntries(
      HOSTILE.filter((n) => !/[\r\n]/.test(n)).map((n, i) => [`stacks/web/${i}-${n}`, "x"]),
    );
    t.write(files).commit("hostile names");
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    const markdown = renderMarkdown(plan);
    expect(markdown).toContain("someone please look");
    expect(inertnessProblems(markdown)).toEqual([]);
  });

  it("hostile stack, host, service and image names, reasons, problems and notes stay inert", () => {
    const plan: Plan = {
      version: 1,
      base: "a".repeat(40),
      head: "b".repeat(40),
      baseNote: HOSTILE.join(" "),
      ok: true,
      deployable: true,
      problems: HOSTILE.map((h, i) => ({
        file: `${h}.yml`,
        line: i + 1,
        col: 1,
        key: h,
        message: h,
        severity: "warning" as const,
      })),
      stacks: HOSTILE.map((name) => ({
        name,
        path: `stacks/${name}`,
        changed: true,
        contentChanged: true,
        reasons: HOSTILE,
        files: [],
        targets: [{ host: name, action: "deploy" as const, reasons: HOSTILE, imageOps: [`pull ${name}`] }],
      })),
      builds: HOSTILE.map((h) => ({
        stack: h,
        service: h,
        builder: h,
        image: h,
        action: "build" as const,
        reason: h,
      })),
      summary: {
        stacks: HOSTILE.length,
        changed: HOSTILE.length,
        broken: 0,
        deploy: HOSTILE.length,
        skip: 0,
        remove: 0,
      },
    };
    expect(inertnessProblems(renderMarkdown(plan))).toEqual([]);
  });
});
