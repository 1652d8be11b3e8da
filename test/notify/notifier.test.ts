/**
 * One alert per failure: the episode rules (pure), then the notifier on both database backends,
 * where replicas sharing a database must agree (one alert, however many of them see the failure).
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { NotificationChannel } from "../../src/config/notifications.ts";
import { decideEpisode } from "../../src/notify/dedupe.ts";
import { Notifier, type NotifyInput, type Outgoing } from "../../src/notify/notifier.ts";
import type { Store } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

describe("notification episodes", () => {
  const t0 = new Date("2026-12-01T12:00:00Z");
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const closed = { open: false, openedAt: null, lastSentAt: null };

  it("sends a failure once, then only a reminder after the interval, and its end once", () => {
    const first = decideEpisode(closed, "failure", t0, 1000);
    expect(first).toEqual({ result: "alert", next: { open: true, openedAt: t0, lastSentAt: t0 } });
    expect(decideEpisode(first.next, "failure", at(999), 1000).result).toBeUndefined();
    const reminded = decideEpisode(first.next, "failure", at(1000), 1000);
    expect(reminded).toEqual({
      result: "reminder",
      next: { open: true, openedAt: t0, lastSentAt: at(1000) },
    });
    const ended = decideEpisode(reminded.next, "success", at(1500), 1000);
    expect(ended.result).toBe("resolved");
    expect(decideEpisode(ended.next, "success", at(1600), 1000).result).toBeUndefined();
    expect(decideEpisode(ended.next, "failure", at(1700), 1000).result).toBe("alert");
  });
});

const channel = (name: string, more: Partial<NotificationChannel> = {}): NotificationChannel =>
  ({
    name,
    type: "discord",
    url: { env: "UNUSED" },
    events: ["deploy_failed", "rollback", "drift", "heal_failed"],
    repos: [],
    reminder: 86_400_000,
    ...more,
  }) as NotificationChannel;

/** A notifier whose dispatch records what it would send. */
function notifierOn(store: Store, channels: NotificationChannel[], sent: Outgoing[]): Notifier {
  return new Notifier({
    channels,
    store,
    dispatch: { send: async (job) => void sent.push(job) },
    log: { warn: () => {}, error: (m) => sent.push({ channel: "LOG", message: { title: m } as never }) },
  });
}

describe.each(backends)("the notifier on $name", (backend) => {
  let store: Store;
  beforeAll(async () => {
    store = await backend.sharedStore();
  });
  const target = () => ({ repo: `acme/${randomUUID()}`, stack: "web", host: "app-1" });

  it("sends a target's repeated deploy failure once, its success once as resolved, then a new failure again", async () => {
    const sent: Outgoing[] = [];
    const n = notifierOn(store, [channel("ops")], sent);
    const t = target();
    const fail = (commit: string): NotifyInput => ({
      type: "deploy",
      ...t,
      commit,
      ok: false,
      error: "boom\nup failed",
    });
    for (const commit of ["a".repeat(40), "b".repeat(40), "c".repeat(40)]) n.emit(fail(commit));
    await n.flush();
    expect(sent.map((s) => [s.channel, s.message.event, s.message.phase])).toEqual([
      ["ops", "deploy_failed", "alert"],
    ]);
    expect(sent[0]?.message).toMatchObject({
      ...t,
      commit: "a".repeat(40),
      title: "deploy of aaaaaaa failed",
      details: ["boom", "up failed"],
    });
    n.emit({ type: "deploy", ...t, commit: "d".repeat(40), ok: true });
    n.emit({ type: "deploy", ...t, commit: "d".repeat(40), ok: true });
    await n.flush();
    // deploy_succeeded is not among this channel's events: only the end of the failure is told.
    expect(sent.slice(1).map((s) => [s.message.event, s.message.phase, s.message.title])).toEqual([
      ["deploy_failed", "resolved", "deploys again: ddddddd succeeded"],
    ]);
    n.emit(fail("e".repeat(40)));
    await n.flush();
    expect(sent.at(-1)?.message.phase).toBe("alert");
  });

  it("reminds of a failure still open after the channel's interval", async () => {
    const sent: Outgoing[] = [];
    const n = notifierOn(store, [channel("ops", { reminder: 300 })], sent);
    const t = target();
    const drift: NotifyInput = {
      type: "drift",
      ...t,
      commit: "a".repeat(40),
      differences: ["web: not running (exited 1)"],
    };
    n.emit(drift);
    await n.flush();
    // A crash loop changes the words each round: still the same episode.
    n.emit({ ...drift, differences: ["web: not running (restarting)"] });
    await n.flush();
    expect(sent.map((s) => s.message.phase)).toEqual(["alert"]);
    await sleep(400);
    n.emit({ ...drift, differences: ["web: not running (restarting)"] });
    await n.flush();
    expect(sent.map((s) => s.message.phase)).toEqual(["alert", "reminder"]);
    expect(sent[1]?.message.details).toEqual(["web: not running (restarting)"]);
  });

  it("lets one of several replicas send a failure all of them see at once", async () => {
    const sent: Outgoing[] = [];
    const replicas = [1, 2, 3, 4].map(() => notifierOn(store, [channel("ops")], sent));
    const t = target();
    for (const n of replicas)
      n.emit({ type: "heal_failed", ...t, commit: "a".repeat(40), error: "up failed" });
    await Promise.all(replicas.map((n) => n.flush()));
    expect(sent.map((s) => s.message.phase)).toEqual(["alert"]);
  });

  it("keeps each channel's events, repositories and episodes its own", async () => {
    const sent: Outgoing[] = [];
    const n = notifierOn(
      store,
      [
        channel("all", { events: ["deploy_failed", "deploy_succeeded", "rollback", "drift", "heal_failed"] }),
        channel("drift-only", { events: ["drift"] }),
        channel("other-repos", { repos: ["other/*"] }),
      ],
      sent,
    );
    const t = target();
    n.emit({ type: "deploy", ...t, commit: "a".repeat(40), ok: true });
    n.emit({ type: "rollback", ...t, ok: true, from: "b".repeat(40), to: "a".repeat(40), actor: "alice" });
    n.emit({ type: "drift", ...t, commit: "a".repeat(40), differences: ["extra container x"] });
    await n.flush();
    expect(sent.map((s) => `${s.channel} ${s.message.event} ${s.message.phase}`).sort()).toEqual([
      "all deploy_succeeded alert",
      "all drift alert",
      "all rollback alert",
      "drift-only drift alert",
    ]);
    expect(sent.find((s) => s.message.event === "rollback")?.message.title).toBe(
      "rolled back from bbbbbbb to aaaaaaa by alice (pinned)",
    );
  });

  it("tells a channel once that a target is back in sync, whatever drift and heal failures it had", async () => {
    const sent: Outgoing[] = [];
    const n = notifierOn(store, [channel("ops"), channel("heals", { events: ["heal_failed"] })], sent);
    const t = target();
    const commit = "a".repeat(40);
    n.emit({ type: "drift", ...t, commit, differences: ["web: image differs"] });
    n.emit({ type: "heal_failed", ...t, commit, error: "pull failed" });
    n.emit({
      type: "heal_given_up",
      ...t,
      commit,
      until: new Date("2026-12-01T13:00:00Z"),
      detail: "3 heals",
    });
    await n.flush();
    // Emits run concurrently: compare what was sent, not in which order.
    expect(sent.map((s) => `${s.channel} ${s.message.event} ${s.message.title}`).sort()).toEqual([
      "heals heal_failed heal (a redeploy of aaaaaaa) failed; retried within its limit",
      "heals heal_failed heal given up until 2026-12-01 13:00 UTC",
      "ops drift drifted from the recorded release aaaaaaa",
      "ops heal_failed heal (a redeploy of aaaaaaa) failed; retried within its limit",
      "ops heal_failed heal given up until 2026-12-01 13:00 UTC",
    ]);
    sent.length = 0;
    n.emit({ type: "in_sync", ...t, commit });
    n.emit({ type: "in_sync", ...t, commit });
    await n.flush();
    expect(sent.map((s) => `${s.channel} ${s.message.event} ${s.message.phase} ${s.message.title}`)).toEqual([
      "ops drift resolved back in sync with aaaaaaa",
      "heals heal_failed resolved back in sync with aaaaaaa",
    ]);
  });

  it("never throws at its caller: a failing dispatch is logged", async () => {
    const logged: string[] = [];
    const n = new Notifier({
      channels: [channel("ops")],
      store,
      dispatch: { send: () => Promise.reject(new Error("queue is down")) },
      log: { warn: () => {}, error: (m) => logged.push(m) },
    });
    expect(() => n.emit({ type: "deploy", ...target(), commit: "a".repeat(40), ok: false })).not.toThrow();
    await n.flush();
    expect(logged).toEqual([expect.stringContaining("queue is down")]);
  });
});
