import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import type { HostRef, Plan, StackPlan } from "../../src/plan/plan.ts";
import { applyPolicy } from "../../src/policy/apply.ts";
import { changedRules, type Policy, policyFromConfig, stackEnvironment } from "../../src/policy/policy.ts";

const MAIN = "a".repeat(40);

function policyOf(yaml: string | undefined): Policy {
  const { config, problems } = loadRepoConfig(yaml);
  return policyFromConfig(config, { branch: "main", commit: MAIN }, problems);
}

const HOSTS: HostRef[] = [
  { name: "app-1", labels: { role: "app" } },
  { name: "app-2", labels: { role: "app" } },
  { name: "db-1", labels: { role: "db" }, environments: ["production"] },
  { name: "lab-1", labels: { role: "lab" }, repos: ["acme/lab-*"] },
];

function stack(name: string, environment: string | undefined, hosts: string[]): StackPlan {
  return {
    name,
    path: `stacks/${name}`,
    ...(environment ? { environment } : {}),
    changed: true,
    contentChanged: true,
    reasons: ["changed"],
    files: [],
    targets: hosts.map((host) => ({ host, action: "deploy", reasons: ["changed"] })),
  };
}

function plan(stacks: StackPlan[]): Plan {
  return {
    version: 1,
    base: "b".repeat(40),
    head: "c".repeat(40),
    ok: true,
    deployable: true,
    problems: [],
    stacks,
    summary: { stacks: stacks.length, changed: stacks.length, broken: 0, deploy: 0, skip: 0, remove: 0 },
  };
}

const actions = (p: Plan) =>
  Object.fromEntries(p.stacks.flatMap((s) => s.targets.map((t) => [`${s.name}@${t.host}`, t.action])));
const reasonOf = (p: Plan, stackName: string, host: string) =>
  p.stacks
    .find((s) => s.name === stackName)
    ?.targets.find((t) => t.host === host)
    ?.reasons.join("; ");

const MAIN_CONFIG = `
environments:
  production:
    hosts: [{ role: app }]
    deploy_on: merge
  staging:
    hosts: [app-2]
stacks:
  - name: db
    environment: production
    hosts: [db-1]
`;

describe("applyPolicy: where the default branch lets each environment go", () => {
  it("keeps targets an environment may reach: its hosts and those its stacks name on the default branch", () => {
    const out = applyPolicy({
      plan: plan([stack("web", "production", ["app-1", "app-2"]), stack("db", "production", ["db-1"])]),
      policy: policyOf(MAIN_CONFIG),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(actions(out)).toEqual({ "web@app-1": "deploy", "web@app-2": "deploy", "db@db-1": "deploy" });
    expect(out.problems).toEqual([]);
    expect(out.summary.deploy).toBe(3);
  });

  it("skips a host outside the environment's reach, saying which rule and where it was read", () => {
    const out = applyPolicy({
      plan: plan([stack("web", "staging", ["app-1", "app-2"])]),
      policy: policyOf(MAIN_CONFIG),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(actions(out)).toEqual({ "web@app-1": "skip", "web@app-2": "deploy" });
    expect(reasonOf(out, "web", "app-1")).toBe(
      "refused: app-1 is not among the hosts staging may reach on the default branch (main at aaaaaaa)",
    );
    expect(out.summary).toMatchObject({ deploy: 1, skip: 1 });
    expect(out.problems.map((p) => p.message)).toEqual([
      "web is not deployed to app-1: app-1 is not among the hosts staging may reach on the default branch (main at aaaaaaa)",
    ]);
  });

  it("refuses an environment the default branch does not define: it applies after merge", () => {
    const out = applyPolicy({
      plan: plan([stack("web", "yolo", ["app-1"])]),
      policy: policyOf(MAIN_CONFIG),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(reasonOf(out, "web", "app-1")).toBe(
      'refused: environment "yolo" is not defined on the default branch (main at aaaaaaa): it applies after merge',
    );
  });

  it("the hosts file has the last word: a host's environments and repos lists refuse the others", () => {
    const everywhere = `environments:\n  staging:\n    hosts: ["*"]\n  production:\n    hosts: ["*"]\n`;
    const out = applyPolicy({
      plan: plan([stack("web", "staging", ["db-1", "lab-1", "app-1"]), stack("db", "production", ["db-1"])]),
      policy: policyOf(everywhere),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(actions(out)).toEqual({
      "web@db-1": "skip",
      "web@lab-1": "skip",
      "web@app-1": "deploy",
      "db@db-1": "deploy",
    });
    expect(reasonOf(out, "web", "db-1")).toBe(
      "refused: db-1 takes only the environments production (hosts file)",
    );
    expect(reasonOf(out, "web", "lab-1")).toBe(
      "refused: lab-1 does not take deploys from acme/infra (hosts file: repos)",
    );
  });

  it("a default branch whose config has errors deploys nothing, and says where to fix it", () => {
    const out = applyPolicy({
      plan: plan([stack("web", "production", ["app-1"])]),
      policy: policyOf("environments:\n  production:\n    deploy_on: sometimes\n"),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(reasonOf(out, "web", "app-1")).toBe(
      "refused: the default branch's .github/stackpilot.yml (main at aaaaaaa) has errors: nothing deploys until they are fixed there",
    );
  });

  it("an environment with no hosts anywhere on the default branch reaches none", () => {
    const out = applyPolicy({
      plan: plan([stack("web", "qa", ["app-1"])]),
      policy: policyOf("environments:\n  qa:\n    deploy_on: command\n"),
      hosts: HOSTS,
      repoId: "acme/infra",
    });
    expect(actions(out)).toEqual({ "web@app-1": "skip" });
  });

  it("points out rules the change edits: they apply after merge", () => {
    const head = loadRepoConfig(MAIN_CONFIG.replace("deploy_on: merge", "deploy_on: command")).config;
    const out = applyPolicy({
      plan: plan([]),
      policy: policyOf(MAIN_CONFIG),
      hosts: HOSTS,
      repoId: "acme/infra",
      headConfig: head,
    });
    expect(out.problems).toEqual([
      expect.objectContaining({
        key: "environments.production",
        severity: "warning",
        message:
          "rules for production changed in this change: they apply after merge; until then deploys follow the default branch (main at aaaaaaa)",
      }),
    ]);
  });
});

describe("the policy read from a config", () => {
  it("lists only environments whose rules differ, including one the change adds", () => {
    expect(changedRules(loadRepoConfig(MAIN_CONFIG).config, policyOf(MAIN_CONFIG))).toEqual([]);
    const added = loadRepoConfig(
      MAIN_CONFIG.replace("  staging:", "  lab:\n    hosts: [lab-1]\n  staging:"),
    ).config;
    expect(changedRules(added, policyOf(MAIN_CONFIG))).toEqual(["lab"]);
  });

  it("knows each stack's environment as the default branch has it", () => {
    const policy = policyOf(`defaults:\n  environment: production\n${MAIN_CONFIG}`);
    expect(stackEnvironment(policy, "db")).toBe("production");
    expect(stackEnvironment(policy, "anything-discovered")).toBe("production");
    expect(stackEnvironment(policyOf(undefined), "web")).toBe("default");
  });
});
