/** One broken stack hides nothing: it is planned as broken, every other stack as usual. */
import { afterEach, describe, expect, it } from "vitest";
import { GitRepo } from "../../src/git/repo.ts";
import type { DeployedRecord, Plan } from "../../src/plan/plan.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { renderMarkdown } from "../../src/plan/render/markdown.ts";
import { renderText } from "../../src/plan/render/text.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const DUPLICATE_KEY = "services:\n  a:\n    image: nginx:1\n    image: nginx:2\n";
const stackOf = (plan: Plan, name: string) => plan.stacks.find((s) => s.name === name);
const actions = (plan: Plan, name: string) => stackOf(plan, name)?.targets.map((t) => [t.host, t.action]);
/** The targets of a stack deployed to both test hosts, all with one action. */
const onBoth = (action: string) => [
  ["h1", action],
  ["h2", action],
];

describe("a broken stack", () => {
  const repos: TestRepo[] = [];
  afterEach(() => {
    for (const r of repos.splice(0)) r.remove();
  });
  const setup = () => {
    const t = new TestRepo();
    repos.push(t);
    t.write({
      ".github/stackpilot.yml": "defaults:\n  hosts: [h1, h2]\n",
      "stacks/a/compose.yaml": "services:\n  a:\n    image: nginx:1\n",
      "stacks/b/compose.yaml": "services:\n  b:\n    image: redis:7\n",
    });
    t.commit("init");
    return t;
  };
  const plan = async (t: TestRepo, opts: { deployed?: DeployedRecord[] } = {}) =>
    (await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD", ...opts })).plan;

  it("changed in the range: its targets skip naming the first error, the others deploy, and the plan is not ok", async () => {
    const t = setup();
    t.write({
      "stacks/a/compose.yaml": DUPLICATE_KEY,
      "stacks/b/compose.yaml": "services:\n  b:\n    image: redis:8\n",
    }).commit();
    const p = await plan(t);
    expect(p.ok).toBe(false);
    expect(p.deployable).toBe(true);
    const a = stackOf(p, "a");
    expect(a?.broken?.map((e) => [e.file, e.line, e.severity])).toEqual([
      ["stacks/a/compose.yaml", 4, "error"],
    ]);
    const error = a?.broken?.[0];
    expect(a?.targets).toEqual([
      {
        host: "h1",
        action: "skip",
        reasons: [`broken: stacks/a/compose.yaml:4:${error?.col} ${error?.message}`],
      },
      {
        host: "h2",
        action: "skip",
        reasons: [`broken: stacks/a/compose.yaml:4:${error?.col} ${error?.message}`],
      },
    ]);
    expect(actions(p, "b")).toEqual(onBoth("deploy"));
    expect(p.problems).toEqual([
      { ...error, message: `${error?.message} (stack "a" is broken: not deployed)` },
    ]);
    expect(p.summary).toMatchObject({ stacks: 2, changed: 2, broken: 1, deploy: 2, skip: 2 });
  });

  it("untouched by the range: a warning saying it is not deployed, and the plan is ok", async () => {
    const t = setup();
    t.write({ "stacks/a/compose.yaml": DUPLICATE_KEY }).commit("break a");
    t.write({ "stacks/b/compose.yaml": "services:\n  b:\n    image: redis:8\n" }).commit("change b");
    const p = await plan(t);
    expect(p.ok).toBe(true);
    expect(stackOf(p, "a")?.changed).toBe(false);
    expect(stackOf(p, "a")?.broken).toHaveLength(1);
    expect(actions(p, "a")).toEqual(onBoth("skip"));
    expect(actions(p, "b")).toEqual(onBoth("deploy"));
    expect(p.problems.map((x) => [x.severity, x.file])).toEqual([["warning", "stacks/a/compose.yaml"]]);
    expect(p.problems[0]?.message).toMatch(
      /\(stack "a" is broken and not deployed; unchanged in this range\)$/,
    );
  });

  it("never deploys, even where deploy-if-changed would (never deployed, or different from the record)", async () => {
    const t = setup();
    t.write({ "stacks/a/compose.yaml": DUPLICATE_KEY }).commit();
    const deployed: DeployedRecord[] = [
      { stack: "a", host: "h1", fingerprint: "sha256:old", commit: "f".repeat(40) },
    ];
    const p = await plan(t, { deployed });
    expect(actions(p, "a")).toEqual(onBoth("skip"));
    // The record is still shown, so the reader sees what keeps running.
    expect(stackOf(p, "a")?.targets[0]?.deployed).toEqual({
      commit: "f".repeat(40),
      fingerprint: "sha256:old",
    });
    expect(actions(p, "b")).toEqual(onBoth("deploy"));
  });

  it("reports a problem of a file two stacks include once, breaking both", async () => {
    const t = setup();
    t.write({
      "shared/base.yaml": "services:\n  base:\n    image: x\n    image: y\n",
      "stacks/a/compose.yaml": "include: [../../shared/base.yaml]\nservices:\n  a:\n    image: nginx:1\n",
      "stacks/b/compose.yaml": "include: [../../shared/base.yaml]\nservices:\n  b:\n    image: redis:7\n",
    }).commit();
    const p = await plan(t);
    expect(p.problems).toHaveLength(1);
    expect(p.problems[0]).toMatchObject({ file: "shared/base.yaml", line: 4, severity: "error" });
    expect(p.problems[0]?.message).toMatch(/\(stacks "a", "b" are broken: not deployed\)$/);
    expect(p.summary.broken).toBe(2);
    expect(p.summary.deploy).toBe(0);
  });

  it("is broken by an include cycle, named at the include that closes it", async () => {
    const t = setup();
    t.write({
      "stacks/a/compose.yaml": "include: [more.yaml]\nservices:\n  a:\n    image: nginx:1\n",
      "stacks/a/more.yaml": "include: [compose.yaml]\n",
    }).commit();
    const p = await plan(t);
    expect(stackOf(p, "a")?.targets[0]?.reasons).toEqual([
      "broken: stacks/a/more.yaml:1:11 include cycle: stacks/a/compose.yaml -> stacks/a/more.yaml -> stacks/a/compose.yaml",
    ]);
    expect(actions(p, "b")).toEqual(onBoth("skip"));
  });

  it("is broken by a missing required env_file, and planned again once the file is added", async () => {
    const t = setup();
    t.write({
      "stacks/a/compose.yaml": "services:\n  a:\n    image: nginx:1\n    env_file: app.env\n",
    }).commit();
    const broken = await plan(t);
    expect(stackOf(broken, "a")?.targets[0]?.reasons).toEqual([
      "broken: stacks/a/compose.yaml:4:15 env_file stacks/a/app.env not found (it is required; `required: false` makes it optional)",
    ]);
    t.write({ "stacks/a/app.env": "A=1\n" }).commit();
    const fixed = await plan(t);
    expect(fixed.ok).toBe(true);
    expect(stackOf(fixed, "a")?.broken).toBeUndefined();
    expect(stackOf(fixed, "a")?.reasons).toEqual(["stacks/a/app.env added (env_file of service a)"]);
    expect(actions(fixed, "a")).toEqual(onBoth("deploy"));
  });

  it("whose definition is refused (a missing compose file) is planned as broken, not dropped", async () => {
    const t = setup();
    t.write({
      ".github/stackpilot.yml":
        "defaults:\n  hosts: [h1, h2]\nstacks:\n  - name: a\n    compose_files: [compose.yaml, prod.yaml]\n",
    }).commit();
    const p = await plan(t);
    expect(p.deployable).toBe(true);
    expect(stackOf(p, "a")?.broken?.[0]).toMatchObject({
      file: ".github/stackpilot.yml",
      line: 5,
      key: "stacks[0].compose_files[1]",
      message: 'stack "a": stacks/a/prod.yaml does not exist at this commit',
    });
    expect(actions(p, "a")).toEqual(onBoth("skip"));
  });

  it("shows in the text and markdown plans with its first error, even when unchanged", async () => {
    const t = setup();
    t.write({ "stacks/a/compose.yaml": DUPLICATE_KEY }).commit("break a");
    t.write({ "README.md": "docs\n" }).commit();
    const p = await plan(t);
    const text = renderText(p);
    expect(text).toMatch(/^a +stacks\/a {2}BROKEN: not deployed$/m);
    expect(text).toMatch(/skip +h1: broken: stacks\/a\/compose\.yaml:4:\d+ /);
    expect(text).toContain("0 of 2 stacks changed, 1 broken; 0 deploy, 0 remove, 4 skip.");
    const markdown = renderMarkdown(p);
    expect(markdown).toContain("> [!WARNING]\n> 1 stack is broken and will not be deployed");
    expect(markdown).toMatch(/> - `a`: stacks\/a\/compose\.yaml:4:\d+ /);
    expect(markdown).toContain("| `a` | `h1` | ⛔ skip | broken: stacks/a/compose.yaml:4:");
    expect(markdown).not.toContain("[!CAUTION]");
  });

  it("fails the plan for a directory that cannot be a stack, but plans and deploys the others", async () => {
    const t = setup();
    t.write({
      "stacks/my app/compose.yaml": "services:\n  x:\n    image: x\n",
      "stacks/b/compose.yaml": "services:\n  b:\n    image: redis:8\n",
    }).commit();
    const p = await plan(t);
    expect(p).toMatchObject({ ok: false, deployable: true });
    expect(p.problems.map((x) => [x.severity, x.file])).toEqual([["error", "stacks/my app/compose.yaml"]]);
    expect(actions(p, "b")).toEqual(onBoth("deploy"));
  });

  it("leaves an invalid stackpilot.yml planning nothing: no stack can be known", async () => {
    const t = setup();
    t.write({ ".github/stackpilot.yml": "defaults:\n  hots: [h1]\n" }).commit();
    const p = await plan(t);
    expect(p).toMatchObject({ ok: false, deployable: false, stacks: [] });
    expect(renderText(p)).toContain("(INVALID CONFIG: nothing will be deployed)");
    expect(renderMarkdown(p)).toContain("[!CAUTION]");
  });
});
