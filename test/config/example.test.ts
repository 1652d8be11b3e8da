// The example config the README points at stays valid as the schema changes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";

describe("examples/.github/stackpilot.yml", () => {
  it("loads without a problem, with its environments, stacks and procedure", () => {
    const text = readFileSync(join(import.meta.dirname, "../../examples/.github/stackpilot.yml"), "utf8");
    const loaded = loadRepoConfig(text);
    expect(loaded.problems).toEqual([]);
    expect(Object.keys(loaded.config?.environments ?? {})).toEqual(["production", "staging"]);
    expect(loaded.config?.stacks?.map((s) => s.name)).toEqual(["monitoring", "web"]);
    expect(Object.keys(loaded.config?.procedures ?? {})).toEqual(["rollout"]);
  });
});
