// Hooks in the repo config and the plan: their settings bounded with file:line:key errors, scripts
// checked and shipped as inputs of their stack, defaults replaced per hook, and the plan saying
// what will run (markdown escaped), only where the stack deploys.
import { describe, expect, it } from "vitest";
import { formatProblem } from "../../src/config/problems.ts";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { GitRepo } from "../../src/git/repo.ts";
import type { Plan, StackPlan } from "../../src/plan/plan.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { renderMarkdown } from "../../src/plan/render/markdown.ts";
import { hooksToRun, renderText } from "../../src/plan/render/text.ts";
import { applyPolicy } from "../../src/policy/apply.ts";
import { policyFromConfig } from "../../src/policy/policy.ts";
import { testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();
const errorsOf = (text: string) =>
  loadRepoConfig(text)
    .problems.filter((p) => p.severity === "error")
    .map(formatProblem);
const stackOf = (plan: Plan, name: string) => plan.stacks.find((s) => s.name === name) as StackPlan;

const COMPOSE = "services:\n  app:\n    image: nginx:1\n";

describe("hooks in the repo config", () => {
  it("reads durations as whole seconds and fills the defaults", () => {
    const { config, problems } = loadRepoConfig(`
defaults:
  hooks:
    on_failure: { run: [./notify.sh] }
stacks:
  - name: web
    hooks:
      pre_deploy: { script: stacks/web/migrate.sh, timeout: 5m, retries: 2, backoff: 10s }
      post_deploy: { run: [curl, -fsS, "http://localhost/health"], timeout: 90, required: false }
`);
    expect(problems).toEqual([]);
    expect(config.defaults.hooks?.on_failure).toEqual({
      run: ["./notify.sh"],
      timeout: 30,
      retries: 0,
      backoff: 3,
      required: true,
    });
    expect(config.stacks[0]?.hooks?.pre_deploy).toMatchObject({ timeout: 300, retries: 2, backoff: 10 });
    expect(config.stacks[0]?.hooks?.post_deploy).toMatchObject({ timeout: 90, required: false });
  });

  it("refuses unbounded or ambiguous hooks at their line and key", () => {
    const at = (hook: string) => `stacks:\n  - name: web\n    hooks:\n      pre_deploy: ${hook}\n`;
    expect(errorsOf(at("{ run: [x], timeout: 2h }"))[0]).toMatch(
      /^\.github\/stackpilot\.yml:4:\d+: error: .*timeout must be at most 3600 s/,
    );
    expect(errorsOf(at("{ run: [x], timeout: 0s }"))[0]).toContain("timeout must be at least 1 s");
    expect(errorsOf(at("{ run: [x], timeout: 1d }"))[0]).toContain("timeout must look like 30s, 5m or 1h");
    expect(errorsOf(at("{ run: [x], retries: 11 }"))[0]).toMatch(/stacks\[0\]\.hooks\.pre_deploy\.retries/);
    expect(errorsOf(at("{ run: [x], backoff: 11m }"))[0]).toContain("backoff must be at most 600 s");
    expect(errorsOf(at('{ run: [x, ""] }'))[0]).toContain("an argv element may not be empty");
    expect(errorsOf(at("{ run: [x], script: a.sh }"))[0]).toContain("a hook has `run` or `script`, not both");
    expect(errorsOf(at("{ timeout: 5s }"))[0]).toContain("a hook needs `run` (an argv) or `script`");
    expect(errorsOf(at("{ run: [x], shell: true }"))[0]).toContain('unknown key "shell"');
    expect(errorsOf(at("{ run: [x] }").replace("pre_deploy", "pre_deplyo"))[0]).toContain(
      'did you mean "pre_deploy"',
    );
  });

  it("refuses a script path outside the repository, in a stack and in the defaults", () => {
    const stack = errorsOf(
      "stacks:\n  - name: web\n    hooks:\n      post_sync: { script: ../../etc/x.sh }\n",
    );
    expect(stack).toHaveLength(1);
    expect(stack[0]).toMatch(
      /^\.github\/stackpilot\.yml:4:28: error: path "\.\.\/\.\.\/etc\/x\.sh" uses "\.\." .* \(at stacks\[0\]\.hooks\.post_sync\.script\)$/,
    );
    const defaults = errorsOf("defaults:\n  hooks:\n    pre_deploy: { script: /usr/bin/env }\n");
    expect(defaults).toHaveLength(1);
    expect(defaults[0]).toMatch(/:3:27: error: .*\(at defaults\.hooks\.pre_deploy\.script\)$/);
  });
});

describe("hooks in the plan", () => {
  const config = (hooks: string) => `
defaults:
  hooks:
    pre_deploy: { run: [./default-pre.sh] }
    on_failure: { run: [./notify.sh], required: false }
stacks:
  - name: web
    hosts: [h1, h2]
    hooks:
${hooks}
  - name: db
    hosts: [h1]
`;

  it("takes each hook from the stack, else the defaults, and says what will run on each deploy", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": config(
        "      pre_deploy: { script: stacks/web/migrate.sh, timeout: 45s, retries: 2 }\n      post_deploy: { run: [sh, -c, 'curl -f localhost || exit 1'] }",
      ),
      "stacks/web/compose.yaml": COMPOSE,
      "stacks/web/migrate.sh": "#!/bin/sh\necho migrate\n",
      "stacks/db/compose.yaml": COMPOSE,
    }).chmod("stacks/web/migrate.sh", 0o755);
    const head = t.commit();
    const { plan } = await planRange(new GitRepo(t.dir), { head });
    expect(plan.problems).toEqual([]);
    expect(stackOf(plan, "web").hooks).toEqual([
      { hook: "pre_deploy", command: "stacks/web/migrate.sh", timeoutS: 45, retries: 2, required: true },
      {
        hook: "post_deploy",
        command: "sh -c 'curl -f localhost || exit 1'",
        timeoutS: 30,
        retries: 0,
        required: true,
      },
      { hook: "on_failure", command: "./notify.sh", timeoutS: 30, retries: 0, required: false },
    ]);
    expect(stackOf(plan, "db").hooks?.map((h) => h.hook)).toEqual(["pre_deploy", "on_failure"]);
    const text = renderText(plan);
    expect(text).toContain("will run pre_deploy: stacks/web/migrate.sh (timeout 45 s, 2 retries)");
    expect(text).toContain("will run post_deploy: sh -c 'curl -f localhost || exit 1' (timeout 30 s)");
    expect(text).toContain("will run pre_deploy: ./default-pre.sh (timeout 30 s)");
  });

  it("changes the stack whose hook script changed, naming the hook, and no other", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": config("      pre_deploy: { script: tools/migrate.sh }"),
      "stacks/web/compose.yaml": COMPOSE,
      "tools/migrate.sh": "#!/bin/sh\necho v1\n",
      "stacks/db/compose.yaml": COMPOSE,
    }).chmod("tools/migrate.sh", 0o755);
    t.commit();
    const head = t.write({ "tools/migrate.sh": "#!/bin/sh\necho v2\n" }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head });
    expect(plan.stacks.filter((s) => s.changed).map((s) => s.name)).toEqual(["web"]);
    expect(stackOf(plan, "web").reasons).toEqual(["tools/migrate.sh modified (pre_deploy hook script)"]);
  });

  it("breaks a stack whose script is missing, not executable or a symlink, naming the line and the fix", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": `stacks:
  - name: a
    hooks: { pre_deploy: { script: stacks/a/missing.sh } }
  - name: b
    hooks: { pre_deploy: { script: stacks/b/plain.sh } }
  - name: c
    hooks: { pre_deploy: { script: stacks/c/link.sh } }
`,
      "stacks/a/compose.yaml": COMPOSE,
      "stacks/b/compose.yaml": COMPOSE,
      "stacks/b/plain.sh": "#!/bin/sh\n",
      "stacks/c/compose.yaml": COMPOSE,
    }).symlink("/etc/passwd", "stacks/c/link.sh");
    const head = t.commit();
    const { plan } = await planRange(new GitRepo(t.dir), { head });
    const brokenBy = (name: string) => stackOf(plan, name).broken?.map(formatProblem) ?? [];
    expect(brokenBy("a")).toEqual([
      ".github/stackpilot.yml:3:36: error: hook script stacks/a/missing.sh does not exist at this commit (at stacks[0].hooks.pre_deploy.script)",
    ]);
    expect(brokenBy("b")[0]).toContain(
      "hook script stacks/b/plain.sh is not executable in git (mode 100644); it runs as itself: git update-index --chmod=+x stacks/b/plain.sh",
    );
    expect(brokenBy("c")[0]).toContain("stacks/c/link.sh is a symlink");
    expect(plan.stacks.flatMap((s) => s.targets).every((x) => x.action === "skip")).toBe(true);
  });

  it("shows hooks only for stacks that deploy, and escapes their commands in markdown", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": config(
        "      post_deploy: { run: ['echo', '`x` <img src=x> @team | *bold*'] }",
      ),
      "stacks/web/compose.yaml": COMPOSE,
      "stacks/db/compose.yaml": COMPOSE,
    });
    t.commit();
    const head = t.write({ "stacks/web/compose.yaml": `${COMPOSE}    init: true\n` }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head });
    expect(stackOf(plan, "db").targets.map((x) => x.action)).toEqual(["skip"]);
    const text = renderText(plan);
    // web's three hooks; db, which does not deploy, shows none.
    expect(text.match(/will run /g)).toHaveLength(3);
    const md = renderMarkdown(plan);
    expect(md).toContain("Hooks (3)");
    // In a code span: backticks in it widen its fence, nothing in it is markup or a mention.
    expect(md).toContain(
      "- `web`: will run post\\_deploy: `` echo '`x` <img src=x> @team | *bold*' `` (timeout 30 s)\n",
    );
    expect(md).toContain("- `web`: will run pre\\_deploy: `./default-pre.sh` (timeout 30 s)\n");
    expect(md).not.toContain("`db`: will run");
  });

  it("names the hooks a range adds, rewrites or removes in the stack's reasons, and marks them among those that will run", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": config(
        "      pre_deploy: { run: [./migrate.sh], timeout: 30s }\n      post_deploy: { run: [./smoke.sh] }",
      ),
      "stacks/web/compose.yaml": COMPOSE,
      "stacks/db/compose.yaml": COMPOSE,
    });
    t.commit();
    // web: pre_deploy's timeout rewritten, post_sync added, post_deploy dropped. Everyone's
    // default on_failure rewritten: db, which inherits it, changes too.
    const head = t
      .write({
        ".github/stackpilot.yml": config(
          "      pre_deploy: { run: [./migrate.sh], timeout: 60s }\n      post_sync: { run: [./fetch.sh] }",
        ).replace("./notify.sh], required: false", "./notify.sh, --loud], required: false"),
      })
      .commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head });
    expect(stackOf(plan, "web").reasons).toEqual([
      "hooks changed: post_sync added, pre_deploy modified, post_deploy removed, on_failure modified",
    ]);
    expect(stackOf(plan, "db").reasons).toEqual(["hooks changed: on_failure modified"]);
    expect(stackOf(plan, "web").hooks?.map((h) => [h.hook, h.change])).toEqual([
      ["post_sync", "added"],
      ["pre_deploy", "modified"],
      ["on_failure", "modified"],
    ]);
    const text = renderText(plan);
    expect(text).toContain("will run post_sync: ./fetch.sh (timeout 30 s, new in this range)");
    expect(text).toContain("will run pre_deploy: ./migrate.sh (timeout 60 s, changed in this range)");
    // db's pre_deploy comes from the defaults, which did not change.
    expect(text).toContain("will run pre_deploy: ./default-pre.sh (timeout 30 s)\n");
    const md = renderMarkdown(plan);
    expect(md).toContain("Hooks (5, 4 new or changed)");
    expect(md).toContain(
      "- **new** `web`: will run post\\_sync: `./fetch.sh` (timeout 30 s, new in this range)\n",
    );
    expect(md).toContain("- `db`: will run pre\\_deploy: `./default-pre.sh` (timeout 30 s)\n");
    expect(md).toContain("hooks changed: post\\_sync added, pre\\_deploy modified");
  });

  it("does not call a hook changed when only its script's content changed, nor the hooks of a new stack", async () => {
    const t = newRepo();
    t.write({
      ".github/stackpilot.yml": config("      pre_deploy: { script: tools/migrate.sh }"),
      "stacks/web/compose.yaml": COMPOSE,
      "tools/migrate.sh": "#!/bin/sh\necho v1\n",
    }).chmod("tools/migrate.sh", 0o755);
    t.commit();
    const head = t
      .write({ "tools/migrate.sh": "#!/bin/sh\necho v2\n", "stacks/db/compose.yaml": COMPOSE })
      .commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head });
    expect(stackOf(plan, "web").reasons).toEqual(["tools/migrate.sh modified (pre_deploy hook script)"]);
    expect(stackOf(plan, "web").hooks?.every((h) => h.change === undefined)).toBe(true);
    expect(stackOf(plan, "db").reasons[0]).toBe("new stack");
    expect(stackOf(plan, "db").hooks?.every((h) => h.change === undefined)).toBe(true);
    expect(renderMarkdown(plan)).not.toContain("new or changed");
  });

  it("runs a change's hooks only where the default branch lets its environment deploy", async () => {
    const t = newRepo();
    const main = `
environments:
  staging: { hosts: [h1] }
stacks:
  - name: web
    environment: staging
    hosts: [h1]
`;
    t.write({ ".github/stackpilot.yml": main, "stacks/web/compose.yaml": COMPOSE });
    t.commit();
    // The change adds a hook and asks for a host its environment may not reach.
    const head = t
      .write({
        ".github/stackpilot.yml": main.replace(
          "    hosts: [h1]\n",
          "    hosts: [h1, prod-1]\n    hooks: { pre_deploy: { run: [./wipe.sh] } }\n",
        ),
      })
      .commit();
    const hosts = [
      { name: "h1", labels: {} },
      { name: "prod-1", labels: {} },
    ];
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head, hosts });
    const policy = policyFromConfig(loadRepoConfig(main).config, { branch: "main" });
    const web = stackOf(applyPolicy({ plan, policy, hosts, repoId: "acme/app" }), "web");
    expect(web.targets.map((x) => [x.host, x.action])).toEqual([
      ["h1", "deploy"],
      ["prod-1", "skip"],
    ]);
    expect(web.targets[1]?.reasons.join("; ")).toContain("not among the hosts staging may reach");
    // The hooks are the change's content, like its compose files; where they run is the deploy's.
    expect(hooksToRun(web).map((h) => h.command)).toEqual(["./wipe.sh"]);
  });
});
