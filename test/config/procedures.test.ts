import { describe, expect, it } from "vitest";
import { formatProblem, type Problem } from "../../src/config/problems.ts";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";

const errorsOf = (text: string) => loadRepoConfig(text).problems.filter((p) => p.severity === "error");

const ROLLOUT = `
stacks:
  - name: db-main
    labels: { tier: data }
procedures:
  rollout:
    stages:
      - name: databases
        steps:
          - deploy: { stacks: ["db-*"] }
      - name: apps
        max_parallel: 2
        steps:
          - deploy: { stacks: ["*"], exclude: ["db-*", "re:^legacy-[0-9]+$"], hosts: [{ role: app }] }
          - procedure: notify-smoke
          - name: "warm caches; rm -rf / $(reboot)"
            hook: { run: ["curl", "-fsS", "http://localhost/warm"], hosts: ["app-*"], timeout: 30 }
            continue_on_error: true
      - name: report
        if: failure
        steps:
          - sleep: 5
  notify-smoke:
    schedule: "0 4 * * *"
    timezone: Europe/Berlin
    on: push
    stages:
      - name: smoke
        when_modified: ["stacks/**"]
        steps:
          - build: { stacks: [{ tier: data }] }
          - rollback: { stacks: ["web"], to: abc1234 }
`;

describe("procedures in the repo config", () => {
  it("accepts the shape users write, every step kind and condition", () => {
    const { config, problems } = loadRepoConfig(ROLLOUT);
    expect(problems).toEqual([]);
    const rollout = config.procedures.rollout;
    expect(rollout?.stages.map((s) => s.name)).toEqual(["databases", "apps", "report"]);
    expect(rollout?.stages[0]?.steps[0]).toEqual({
      deploy: { stacks: ["db-*"], exclude: [], force: false },
    });
    expect(rollout?.stages[1]?.steps[2]).toMatchObject({ continue_on_error: true, hook: { timeout: 30 } });
    expect(config.procedures["notify-smoke"]?.on).toEqual(["push"]);
    expect(config.stacks[0]?.labels).toEqual({ tier: "data" });
  });

  it("reports an unknown step kind at its line with a did-you-mean", () => {
    const [p] = errorsOf(
      "procedures:\n  x:\n    stages:\n      - name: s\n        steps:\n          - deplyo: { stacks: [a] }\n",
    );
    expect(p).toMatchObject({ line: 6, col: 21, key: "procedures.x.stages[0].steps[0].deplyo" });
    expect(p?.message).toContain('unknown step kind "deplyo"; did you mean "deploy"?');
  });

  it("reports an unknown key inside a step's arguments with a did-you-mean", () => {
    const [p] = errorsOf(
      "procedures:\n  x:\n    stages:\n      - name: s\n        steps:\n          - deploy: { stacks: [a], exlude: [b] }\n",
    );
    expect(p?.key).toBe("procedures.x.stages[0].steps[0].deploy.exlude");
    expect(p?.message).toBe('unknown key "exlude"; did you mean "exclude"?');
  });

  it("refuses a glob the matcher cannot take and a regex RE2 cannot run, at their positions", () => {
    const problems = errorsOf(
      'procedures:\n  x:\n    stages:\n      - name: s\n        steps:\n          - deploy: { stacks: ["+(a)", "re:(a)\\\\1", "re:(?=x)"] }\n',
    );
    expect(problems.map((p) => p.key)).toEqual([
      "procedures.x.stages[0].steps[0].deploy.stacks[0]",
      "procedures.x.stages[0].steps[0].deploy.stacks[1]",
      "procedures.x.stages[0].steps[0].deploy.stacks[2]",
    ]);
    expect(problems[0]?.message).toMatch(/^invalid glob/);
    expect(problems[1]?.message).toMatch(/^invalid regular expression: .*backreferences/);
    expect(problems[2]?.message).toMatch(/^invalid regular expression/);
    expect(problems[0]?.line).toBe(6);
  });

  it("reports a cycle at the step that closes it, with the word cycle and the path", () => {
    const text = [
      "procedures:",
      "  rollout:",
      "    stages:",
      "      - name: a",
      "        steps:",
      "          - procedure: notify-smoke",
      "  notify-smoke:",
      "    stages:",
      "      - name: b",
      "        steps:",
      "          - procedure: rollout",
      "",
    ].join("\n");
    const problems = errorsOf(text);
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0] as Problem)).toBe(
      ".github/stackpilot.yml:11:24: error: cycle: rollout -> notify-smoke -> rollout (at procedures.notify-smoke.stages[0].steps[0].procedure)",
    );
  });

  it("reports a procedure calling itself and one calling an unknown procedure", () => {
    const problems = errorsOf(
      "procedures:\n  a:\n    stages:\n      - name: s\n        steps:\n          - procedure: a\n          - procedure: nope\n",
    );
    expect(problems.map((p) => p.message)).toEqual([
      'unknown procedure "nope" (defined: a)',
      "cycle: a -> a",
    ]);
  });

  it("refuses a bad cron schedule, an unknown time zone and a sleep over an hour", () => {
    const problems = errorsOf(
      'procedures:\n  a:\n    schedule: "61 * * * *"\n    timezone: Mars/Olympus\n    stages:\n      - name: s\n        steps:\n          - sleep: 7200\n',
    );
    expect(problems.map((p) => p.key).sort()).toEqual([
      "procedures.a.schedule",
      "procedures.a.stages[0].steps[0].sleep",
      "procedures.a.timezone",
    ]);
  });

  it("refuses procedure names that could reach a URL or a command unescaped", () => {
    const [p] = errorsOf(
      "procedures:\n  'a;b':\n    stages:\n      - name: s\n        steps:\n          - sleep: 1\n",
    );
    expect(p?.message).toContain("procedure names may contain only");
  });
});
