/**
 * The hosts file's `notifications:` (server side): where Stackpilot tells people that a deploy
 * failed, a stack drifted or a heal failed. Generic webhooks (JSON, HMAC-signed), Slack and
 * Discord incoming webhooks. A Slack or Discord webhook URL is itself the credential, so it is a
 * secret reference (`{ env }` / `{ file }`) like every other; so is a webhook's signing secret.
 */
import { z } from "zod";
import { Duration } from "./duration.ts";
import { SAFE_NAME, validGlob } from "./repoConfigSchema.ts";
import { SecretRef } from "./secretRef.ts";

export const NOTIFY_EVENTS = [
  "deploy_failed",
  "deploy_succeeded",
  "rollback",
  "drift",
  "heal_failed",
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Every event but `deploy_succeeded`, which is opt-in. */
export const DEFAULT_NOTIFY_EVENTS: readonly NotifyEvent[] = NOTIFY_EVENTS.filter(
  (e) => e !== "deploy_succeeded",
);

const HttpUrl = z
  .url({ protocol: /^https?$/, error: "an http:// or https:// URL" })
  .max(2048)
  // A plain URL is shown in errors and logs as it is: one carrying credentials must be a secret.
  .refine(
    (u) => !new URL(u).username && !new URL(u).password,
    "a URL with credentials must be a secret: { env } or { file }",
  );

const common = {
  /** Names the channel in logs and the database (never its URL). Default: `<type>-<position>`. */
  name: z.string().regex(SAFE_NAME).max(100).optional(),
  /** What is sent there; default every event but deploy_succeeded. */
  events: z
    .array(z.enum(NOTIFY_EVENTS))
    .min(1)
    .default([...DEFAULT_NOTIFY_EVENTS]),
  /** Only for these repositories (owner/name globs); empty: all. */
  repos: z.array(z.string().superRefine(validGlob)).default([]),
  /** A failure still open is said again after this long (from 1h to 30d). */
  reminder: Duration({ min: 3_600_000, max: 30 * 86_400_000 }).default(86_400_000),
};

export const NotificationSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("webhook"),
    /** Where the JSON is POSTed: a URL, or a secret holding one. */
    url: z.union([HttpUrl, SecretRef]),
    /** Signs each body: `X-Stackpilot-Signature-256: sha256=<HMAC-SHA256 of the body, hex>`. */
    secret: SecretRef,
    ...common,
  }),
  z.strictObject({
    type: z.literal("slack"),
    /** The incoming webhook's URL: a secret. */
    url: SecretRef,
    ...common,
  }),
  z.strictObject({
    type: z.literal("discord"),
    /** The webhook's URL: a secret. */
    url: SecretRef,
    ...common,
  }),
]);
export type NotificationInput = z.output<typeof NotificationSchema>;

/** A channel as the notifier uses it: always named. */
export type NotificationChannel = NotificationInput & { name: string };

/** Names default to `<type>-<position>`; a duplicate name is reported at its position. */
export function nameChannels(list: readonly NotificationInput[]): {
  channels: NotificationChannel[];
  duplicates: { index: number; name: string }[];
} {
  const seen = new Set<string>();
  const duplicates: { index: number; name: string }[] = [];
  const channels = list.map((c, i) => {
    const name = c.name ?? `${c.type}-${i + 1}`;
    if (seen.has(name)) duplicates.push({ index: i, name });
    seen.add(name);
    return { ...c, name };
  });
  return { channels, duplicates };
}
