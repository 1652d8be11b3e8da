/** When a drifted target is healed: limits per window, backoff after failures, retries within the limit. */
import { describe, expect, it } from "vitest";
import { healDecision, healRefusal } from "../../src/drift/heal.ts";
import type { DeploymentStatus } from "../../src/state/deployments.ts";
import type { HealAttempt } from "../../src/state/drift.ts";

const now = new Date("2026-12-01T12:00:00Z");
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
let id = 0;
/** Newest first, as the store returns them. */
const attempts = (...list: [status: DeploymentStatus, minutesAgo: number][]): HealAttempt[] =>
  list.map(([status, m]) => ({ id: ++id, status, createdAt: minutesAgo(m) }));
const limits = { maxHeals: 3, windowMs: 60 * 60_000, backoffMs: 60_000 };

describe("heal decisions", () => {
  it("heals a target that had no heal, and one whose last heal succeeded", () => {
    expect(healDecision([], now, limits)).toEqual({ action: "heal" });
    expect(healDecision(attempts(["succeeded", 1]), now, limits)).toEqual({ action: "heal" });
  });

  it("gives up after the limit within the window, until the oldest of them leaves it", () => {
    const d = healDecision(attempts(["succeeded", 5], ["succeeded", 20], ["failed", 50]), now, limits);
    expect(d).toEqual({
      action: "give_up",
      until: minutesAgo(50 - 60),
      reason: "3 heals within 60 minutes did not keep it in sync",
    });
    // An hour after the oldest, one more heal is allowed again.
    expect(healDecision(attempts(["succeeded", 5], ["succeeded", 20], ["failed", 61]), now, limits)).toEqual({
      action: "heal",
    });
  });

  it("retries a failed heal at a later round after a backoff that doubles with each failure in a row", () => {
    expect(healDecision(attempts(["failed", 0.5]), now, limits)).toEqual({
      action: "wait",
      until: new Date(minutesAgo(0.5).getTime() + 60_000),
      reason: "backing off after 1 failed heal",
    });
    expect(healDecision(attempts(["failed", 1.5]), now, limits)).toEqual({ action: "heal" });
    expect(healDecision(attempts(["rolled_back", 1.5], ["failed", 3]), now, limits)).toMatchObject({
      action: "wait",
      reason: "backing off after 2 failed heals",
    });
    expect(healDecision(attempts(["interrupted", 2.5], ["failed", 4]), now, limits)).toEqual({
      action: "heal",
    });
    // A success in between ends the run of failures.
    expect(healDecision(attempts(["succeeded", 0.5], ["failed", 1]), now, limits)).toEqual({
      action: "heal",
    });
  });

  it("does not count heals that gave way to a newer deploy, and waits for one that runs", () => {
    expect(
      healDecision(attempts(["superseded", 1], ["superseded", 2], ["superseded", 3]), now, limits),
    ).toEqual({
      action: "heal",
    });
    expect(healDecision(attempts(["running", 0]), now, limits)).toMatchObject({ action: "wait" });
    expect(healDecision(attempts(["queued", 0]), now, limits)).toMatchObject({ action: "wait" });
  });

  it("never backs off longer than the window", () => {
    const one = attempts(["failed", 0.5]);
    expect(healDecision(one, now, { maxHeals: 10, windowMs: 90_000, backoffMs: 600_000 })).toMatchObject({
      action: "wait",
      until: new Date(minutesAgo(0.5).getTime() + 90_000),
    });
  });
});

describe("targets never healed", () => {
  it("refuses a target pinned by a rollback, whatever differs", () => {
    expect(healRefusal({ pinned: true }, true)).toEqual({
      outcome: "refused",
      detail: expect.stringContaining("pinned by a rollback"),
    });
    expect(healRefusal({ pinned: true }, false)?.outcome).toBe("refused");
  });

  it("leaves a target where only what a redeploy cannot repair differs, and heals any other", () => {
    expect(healRefusal({ pinned: false }, false)).toEqual({
      outcome: "not_healable",
      detail: expect.stringContaining("one-off containers"),
    });
    expect(healRefusal({ pinned: false }, true)).toBeUndefined();
  });
});
