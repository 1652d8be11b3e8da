/**
 * A message as each kind of channel takes it. Pure: (channel type, message, signing secret) ->
 * body and headers. Outside text (errors, container names, differences) is escaped where the
 * receiver would act on it: Slack's `<!channel>` and links (`&`, `<`, `>`), Discord's mentions
 * (`allowed_mentions: { parse: [] }`, and its 2,000-character limit).
 */
import { createHmac } from "node:crypto";
import type { NotificationChannel } from "../config/notifications.ts";
import { type Message, where } from "./message.ts";

export const SIGNATURE_HEADER = "X-Stackpilot-Signature-256";
/** The largest body we send; messages are bounded far below it (message.ts). */
export const MAX_BODY_BYTES = 16 * 1024;

export interface Request {
  body: string;
  headers: Record<string, string>;
}

/** `sha256=<hex>`: GitHub's webhook signature scheme, so receivers can reuse its verifiers. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export function renderRequest(
  type: NotificationChannel["type"],
  message: Message,
  signingSecret?: string,
): Request {
  const json = { "Content-Type": "application/json", "User-Agent": "Stackpilot" };
  switch (type) {
    case "webhook": {
      const body = JSON.stringify({ ...message, summary: summary(message) });
      if (!signingSecret) throw new Error("a webhook channel signs every body: it needs its secret");
      return {
        body,
        headers: {
          ...json,
          "X-Stackpilot-Event": message.event,
          [SIGNATURE_HEADER]: signature(signingSecret, body),
        },
      };
    }
    case "slack":
      return { body: JSON.stringify({ text: slackText(message) }), headers: json };
    case "discord":
      return {
        body: JSON.stringify({ content: discordText(message), allowed_mentions: { parse: [] } }),
        headers: json,
      };
  }
}

const ICON: Record<Message["phase"], string> = { alert: "🔴", reminder: "🔁", resolved: "✅" };

/** One line: what happened, where. */
export function summary(m: Message): string {
  const icon = m.event === "deploy_succeeded" || m.phase === "resolved" ? "✅" : ICON[m.phase];
  const again = m.phase === "reminder" ? "still: " : "";
  return `${icon} ${again}${m.title} — ${where(m)}`;
}

function slackText(m: Message): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const details = m.details.length ? `\n\`\`\`${esc(m.details.join("\n")).replace(/```/g, "ˋˋˋ")}\`\`\`` : "";
  return `${esc(summary(m))}${details}`;
}

const DISCORD_MAX = 2000;

function discordText(m: Message): string {
  const head = summary(m);
  if (!m.details.length) return head.slice(0, DISCORD_MAX);
  const fence = (s: string) => `\n\`\`\`\n${s.replace(/```/g, "ˋˋˋ")}\n\`\`\``;
  let details = m.details.join("\n");
  const room = DISCORD_MAX - head.length - fence("").length;
  if (details.length > room) details = `${details.slice(0, Math.max(0, room - 1))}…`;
  return `${head}${fence(details)}`.slice(0, DISCORD_MAX);
}
