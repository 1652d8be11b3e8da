import { describe, expect, it } from "vitest";
import { checkRunProgress } from "../../src/github/api/checkRunProgress.ts";

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("checkRunProgress", () => {
  it("sends one update at a time and collapses the changes made meanwhile into one", async () => {
    let state = 0;
    const sent: number[] = [];
    let inFlight = 0;
    let most = 0;
    const progress = checkRunProgress({
      render: () => state,
      send: async (snapshot) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await tick(20);
        sent.push(snapshot);
        inFlight--;
      },
      log: { warn: () => {} },
    });
    for (let i = 1; i <= 50; i++) {
      state = i;
      progress.changed();
      await tick(1);
    }
    expect(await progress.finish()).toBe(true);
    expect(most).toBe(1);
    expect(sent.length).toBeLessThan(20);
    expect(sent.at(-1)).toBe(50);
  });

  it("sends a state GitHub accepted once: the last host's update carries the final state, finish sends nothing", async () => {
    let state = { status: "in_progress", done: 0 };
    const sent: string[] = [];
    const progress = checkRunProgress({
      render: () => ({ ...state }),
      send: async (body) => {
        sent.push(JSON.stringify(body));
      },
      log: { warn: () => {} },
    });
    state = { status: "in_progress", done: 1 };
    progress.changed();
    await tick();
    progress.changed(); // nothing changed since
    await tick();
    state = { status: "completed", done: 2 };
    progress.changed();
    await tick();
    expect(await progress.finish()).toBe(true);
    expect(sent).toEqual(['{"status":"in_progress","done":1}', '{"status":"completed","done":2}']);
  });

  it("still sends the final state when the update that carried it failed", async () => {
    let state = "in progress";
    const sent: string[] = [];
    let calls = 0;
    const progress = checkRunProgress({
      render: () => state,
      send: async (body) => {
        if (++calls === 2) throw new Error("502");
        sent.push(body);
      },
      log: { warn: () => {} },
      retryDelayMs: 1,
    });
    progress.changed();
    await tick();
    state = "completed";
    progress.changed(); // fails
    await tick();
    expect(await progress.finish()).toBe(true);
    expect(sent).toEqual(["in progress", "completed"]);
  });

  it("logs a failed intermediate update and carries on; the final one is tried again", async () => {
    const warnings: string[] = [];
    let calls = 0;
    const progress = checkRunProgress({
      render: () => "done",
      send: async () => {
        calls++;
        if (calls <= 3) throw new Error(`secondary rate limit #${calls}`);
      },
      log: { warn: (m) => warnings.push(m) },
      retryDelayMs: 1,
    });
    progress.changed();
    expect(await progress.finish()).toBe(true);
    expect(calls).toBe(4);
    expect(warnings).toEqual([
      "check run update failed: secondary rate limit #1",
      "final check run update failed (attempt 1 of 3): secondary rate limit #2; trying again",
      "final check run update failed (attempt 2 of 3): secondary rate limit #3; trying again",
    ]);
  });

  it("gives up on the final update after its attempts, saying so, without throwing", async () => {
    const warnings: string[] = [];
    const progress = checkRunProgress({
      render: () => "done",
      send: () => Promise.reject(new Error("502")),
      log: { warn: (m) => warnings.push(m) },
      finalAttempts: 2,
      retryDelayMs: 1,
    });
    expect(await progress.finish()).toBe(false);
    expect(warnings.at(-1)).toBe("final check run update failed (attempt 2 of 2): 502");
  });
});
