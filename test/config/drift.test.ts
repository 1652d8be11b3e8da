/**
 * Drift settings: validated like the rest of the repo config (durations, bounds, positions), and
 * read as rules: from the default branch's config, a stack's own over its environment's.
 */
import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";
import { formatProblem } from "../../src/config/problems.ts";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { driftSettingsOf } from "../../src/policy/drift.ts";
import { changedRules, policyFromConfig } from "../../src/policy/policy.ts";

const errorsOf = (text: string) =>
  loadRepoConfig(text)
    .problems.filter((p) => p.severity === "error")
    .map(formatProblem);

const policyOf = (text: string) => {
  const { config, problems } = loadRepoConfig(text);
  return policyFromConfig(config, { branch: "main", commit: "a".repeat(40) }, problems);
};

describe("durations", () => {
  it("reads a whole number and one unit, nothing else", () => {
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("2d")).toBe(172_800_000);
    for (const bad of ["", "10", "1.5h", "0s", "10 m", "1h30m", "-5m", "05m", "10M", "1w"])
      expect(parseDuration(bad), bad).toBeUndefined();
    expect(formatDuration(5_430_000)).toBe("1h30m30s");
  });
});

describe("drift settings in .github/stackpilot.yml", () => {
  it("takes them per environment and per stack, with defaults", () => {
    const { config, problems } = loadRepoConfig(`
environments:
  production:
    drift: { every: 5m, heal: true }
stacks:
  - name: web
    drift: { every: 1h, heal: true, max_heals: 5, heal_window: 2h }
  - name: batch
    drift: false
`);
    expect(problems).toEqual([]);
    expect(config.environments.production?.drift).toEqual({
      every: 300_000,
      heal: true,
      max_heals: 3,
      heal_window: 3_600_000,
    });
    expect(config.stacks[0]?.drift).toEqual({
      every: 3_600_000,
      heal: true,
      max_heals: 5,
      heal_window: 7_200_000,
    });
    expect(config.stacks[1]?.drift).toBe(false);
    expect(loadRepoConfig("environments:\n  p:\n    drift: {}\n").config.environments.p?.drift).toEqual({
      every: 600_000,
      heal: false,
      max_heals: 3,
      heal_window: 3_600_000,
    });
  });

  it("refuses checks more often than every 30 s, bad durations and unknown keys, at file:line:col", () => {
    expect(errorsOf("environments:\n  p:\n    drift: { every: 10s }\n")).toEqual([
      ".github/stackpilot.yml:3:21: error: 10s is out of bounds: from 30s to 7d (at environments.p.drift.every)",
    ]);
    expect(errorsOf("environments:\n  p:\n    drift:\n      every: 10\n")).toEqual([
      ".github/stackpilot.yml:4:14: error: a duration like 30s, 10m, 1h or 2d (at environments.p.drift.every)",
    ]);
    expect(errorsOf("stacks:\n  - name: web\n    drift: { every: 5 minutes }\n")).toEqual([
      '.github/stackpilot.yml:3:21: error: "5 minutes" is not a duration like 30s, 10m, 1h or 2d (at stacks[0].drift.every)',
    ]);
    expect(errorsOf("stacks:\n  - name: web\n    drift: { heal: true, max_heals: 0 }\n")).toEqual([
      ".github/stackpilot.yml:3:37: error: Too small: expected number to be >=1 (at stacks[0].drift.max_heals)",
    ]);
    expect(errorsOf("environments:\n  p:\n    drift: { evry: 5m }\n")).toEqual([
      '.github/stackpilot.yml:3:14: error: unknown key "evry"; did you mean "every"? (at environments.p.drift.evry)',
    ]);
    expect(errorsOf("environments:\n  p:\n    drift: { heal_window: 30s }\n")[0]).toContain(
      "30s is out of bounds: from 1m to 7d",
    );
  });
});

describe("drift settings as rules", () => {
  const config = `
environments:
  production:
    drift: { every: 5m, heal: true }
  staging: {}
defaults: { environment: production }
stacks:
  - name: web
    drift: { every: 1h }
  - name: batch
    drift: false
  - name: preview
    environment: staging
`;

  it("gives a stack its own settings, else its environment's, and none where neither sets them or it says false", () => {
    const policy = policyOf(config);
    expect(driftSettingsOf(policy, "web")).toMatchObject({ every: 3_600_000, heal: false });
    // A discovered stack without an entry belongs to the default environment.
    expect(driftSettingsOf(policy, "discovered")).toMatchObject({ every: 300_000, heal: true });
    expect(driftSettingsOf(policy, "batch")).toBeUndefined();
    expect(driftSettingsOf(policy, "preview")).toBeUndefined();
  });

  it("decides nothing from a default branch whose config has errors", () => {
    const broken = policyOf(`${config}\nbogus: 1\n`);
    expect(driftSettingsOf(broken, "web")).toBeUndefined();
    expect(driftSettingsOf(broken, "discovered")).toBeUndefined();
  });

  it("tells a change that edits an environment's drift settings that they apply after merge", () => {
    const head = loadRepoConfig(
      config.replace("drift: { every: 5m, heal: true }", "drift: { every: 5m }"),
    ).config;
    expect(changedRules(head, policyOf(config))).toEqual(["production"]);
  });
});
