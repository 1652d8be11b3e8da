/**
 * What a notification says: one plain-data message per event, the same for every channel (each
 * channel renders it: channels.ts). Bounded by construction: a title of at most 300 characters
 * and at most 20 detail lines of 500, whatever a host or a deploy printed.
 */
import type { NotifyEvent } from "../config/notifications.ts";

/** `alert`: a new failure or an event; `reminder`: a failure still open; `resolved`: it ended. */
export type Phase = "alert" | "reminder" | "resolved";

export interface Message {
  event: NotifyEvent;
  phase: Phase;
  repo: string;
  stack: string;
  host: string;
  /** The commit concerned (deployed, recorded, rolled back to). */
  commit?: string;
  title: string;
  details: string[];
  /** ISO time of the event. */
  at: string;
  deploymentId?: number;
}

const MAX_TITLE = 300;
const MAX_LINES = 20;
const MAX_LINE = 500;

export function boundMessage(m: Message): Message {
  const line = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
  const details = m.details.flatMap((d) => d.split("\n")).filter((d) => d.trim());
  const kept =
    details.length > MAX_LINES
      ? [...details.slice(0, MAX_LINES - 1), `… ${details.length - MAX_LINES + 1} more`]
      : details;
  return { ...m, title: line(m.title, MAX_TITLE), details: kept.map((d) => line(d, MAX_LINE)) };
}

/** The last lines of an error: where deploy errors say what went wrong. */
export function errorTail(error: string | undefined, lines = 8): string[] {
  return (error ?? "").trim().split("\n").slice(-lines);
}

export const short = (sha: string | undefined) => (sha ? sha.slice(0, 7) : "?");

/** `web on app-1 (acme/infra)`. */
export const where = (m: Pick<Message, "repo" | "stack" | "host">) => `${m.stack} on ${m.host} (${m.repo})`;
