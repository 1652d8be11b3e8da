// The pure pieces the pages format with: run durations, drift in words, a run's rows.
import { describe, expect, it } from "vitest";
import { driftOf } from "../../src/ui/pages/matrixModel.ts";
import { duration, runRows } from "../../src/ui/pages/runModel.ts";

describe("duration", () => {
  it("reads as ms under a second, seconds under a minute, then minutes and seconds", () => {
    expect(duration(undefined)).toBe("");
    expect(duration(420)).toBe("420 ms");
    expect(duration(1250)).toBe("1.3 s");
    expect(duration(245_000)).toBe("4m 05s");
  });
});

describe("driftOf", () => {
  const since = new Date(0);
  it("says in sync without details, and what differs when drifted", () => {
    expect(driftOf({ state: "in_sync", details: ["note"], since })).toEqual({
      word: "in sync",
      tone: "",
      details: "",
    });
    expect(driftOf({ state: "drifted", details: ["a", "b"], since })).toEqual({
      word: "drifted",
      tone: "bad",
      details: "a; b",
    });
  });

  it("bounds what a cell shows: three findings, each cut, and how many more there are", () => {
    const d = driftOf({ state: "unreachable", details: ["x".repeat(500), "b", "c", "d", "e"], since });
    expect(d.details).toBe(`${"x".repeat(119)}…; b; c (and 2 more)`);
  });
});

describe("runRows", () => {
  it("puts a nested procedure's stages under the step that runs it, deeper, with linked deployments", () => {
    const rows = runRows({
      id: 1,
      procedure: "p",
      repo: "a/b",
      branch: "main",
      head: null,
      base: null,
      source: "cli",
      trigger: null,
      actor: "me",
      status: "running",
      createdAt: new Date(0).toISOString(),
      stages: [
        {
          path: "0",
          name: "outer",
          status: "running",
          steps: [
            {
              path: "0.0",
              name: "procedure inner",
              kind: "procedure",
              status: "running",
              stages: [
                {
                  path: "0.0/0",
                  name: "inner stage",
                  status: "succeeded",
                  steps: [
                    {
                      path: "0.0/0.0",
                      name: "deploy",
                      kind: "deploy",
                      status: "succeeded",
                      targets: [
                        { stack: "web", host: "h1", status: "succeeded", deploymentId: 7 },
                        { stack: "db", host: "h1", status: "skipped", deploymentId: "7; evil" },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    expect(rows.map((r) => [r.depth, r.name, r.status])).toEqual([
      [0, "outer", "running"],
      [1, "procedure inner", "running"],
      [2, "inner stage", "succeeded"],
      [3, "deploy", "succeeded"],
    ]);
    expect(rows[3]?.targets).toEqual([
      { stack: "web", host: "h1", status: "succeeded", href: "/ui/deployments/7" },
      { stack: "db", host: "h1", status: "skipped", href: undefined },
    ]);
  });
});
