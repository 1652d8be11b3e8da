/**
 * One alert per failure, not one per occurrence (doco-cd's fault was hundreds of identical ones):
 * per (channel, topic, target), a failure opens an episode and is sent; while it stays open, only
 * a reminder every `reminderMs` is sent, whatever changes in its details (a crash-looping container
 * alternates between `restarting` and `exited`); a success closes it, saying so once. Pure.
 */
import type { Episode } from "../state/notifyEpisodes.ts";
import type { Phase } from "./message.ts";

export function decideEpisode(
  prev: Episode,
  outcome: "failure" | "success",
  now: Date,
  reminderMs: number,
): { next: Episode; result: Phase | undefined } {
  if (outcome === "success") {
    if (!prev.open) return { next: prev, result: undefined };
    return { next: { open: false, openedAt: null, lastSentAt: now }, result: "resolved" };
  }
  if (!prev.open) return { next: { open: true, openedAt: now, lastSentAt: now }, result: "alert" };
  if (prev.lastSentAt && now.getTime() - prev.lastSentAt.getTime() < reminderMs)
    return { next: prev, result: undefined };
  return { next: { ...prev, lastSentAt: now }, result: "reminder" };
}
