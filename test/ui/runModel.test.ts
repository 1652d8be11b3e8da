// The pure pieces the pages format with: run durations, drift in words, a run's rows, the
// matrix's merged cells.
import { describe, expect, it } from "vitest";
import type { TargetOverview } from "../../src/state/overview.ts";
import { driftOf, matrixModel } from "../../src/ui/pages/matrixModel.ts";
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
  it("says in sync without details, and what differs when drifted", () => {
    expect(driftOf({ state: "in_sync", details: ["note"] })).toEqual({
      word: "in sync",
      tone: "",
      details: "",
    });
    expect(driftOf({ state: "drifted", details: ["a", "b"] })).toEqual({
      word: "drifted",
      tone: "bad",
      details: "a; b",
    });
  });

  it("bounds what a cell shows: three findings, each cut, and how many more there are", () => {
    const d = driftOf({ state: "unreachable", details: ["x".repeat(500), "b", "c", "d", "e"] });
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

describe("matrixModel", () => {
  const at = new Date("2026-12-01T00:00:00Z");
  const t = (host: string, drift: TargetOverview["drift"]): TargetOverview => ({
    stack: "web",
    host,
    environment: "production",
    deployed: { commit: "a".repeat(40), deployedAt: at, pinned: false, deploymentId: 1 },
    last: { id: 1, status: "succeeded" },
    drift,
  });
  const inSync = { state: "in_sync" as const, details: [] };

  it("merges neighbouring cells that read the same, not one whose drift differs, and counts drift", () => {
    const view = matrixModel(
      [
        {
          repo: "acme/infra",
          targets: [
            t("h1", inSync),
            t("h2", inSync),
            t("h3", { state: "drifted", details: ["x"] }),
            t("h4", inSync),
          ],
          locks: new Map(),
        },
      ],
      { origin: "https://github.com", now: at.getTime() },
    );
    const cells = view.repos[0]?.environments[0]?.rows[0]?.cells ?? [];
    expect(cells.map((c) => [c.span, c.drift?.word])).toEqual([
      [2, "in sync"],
      [1, "drifted"],
      [1, "in sync"],
    ]);
    expect(view.counts).toEqual({ deployed: 4, failed: 0, drifted: 1, locked: 0 });
  });

  it("says drift is unknown when no target shown was ever checked", () => {
    const view = matrixModel([{ repo: "acme/infra", targets: [t("h1", null)], locks: new Map() }], {
      origin: "https://github.com",
      now: at.getTime(),
    });
    expect(view.counts.drifted).toBe("unknown");
  });
});
