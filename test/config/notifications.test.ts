/** The hosts file's `notifications:`: validated like the rest, every error at its line, URLs as secrets. */
import { describe, expect, it } from "vitest";
import { parseHostsFile } from "../../src/config/hostsFile.ts";
import { formatProblem } from "../../src/config/problems.ts";
import { INLINE_SECRET_MESSAGE } from "../../src/config/secretRef.ts";

const errorsOf = (yaml: string) =>
  parseHostsFile(yaml, "hosts.yml")
    .problems.filter((p) => p.severity === "error")
    .map(formatProblem);

describe("notification channels in the hosts file", () => {
  it("reads webhook, Slack and Discord channels with their defaults and names", () => {
    const { notifications, problems } = parseHostsFile(
      `notifications:
  - type: webhook
    url: https://hooks.example.com/stackpilot
    secret: { env: STACKPILOT_HOOK_SECRET }
  - name: ops
    type: slack
    url: { file: /etc/stackpilot/slack-url }
    events: [deploy_failed, deploy_succeeded, heal_failed]
    repos: ["acme/*"]
    reminder: 6h
  - type: discord
    url: { env: DISCORD_WEBHOOK_URL }
`,
      "hosts.yml",
    );
    expect(problems).toEqual([]);
    expect(notifications).toEqual([
      {
        name: "webhook-1",
        type: "webhook",
        url: "https://hooks.example.com/stackpilot",
        secret: { env: "STACKPILOT_HOOK_SECRET" },
        events: ["deploy_failed", "rollback", "drift", "heal_failed"],
        repos: [],
        reminder: 86_400_000,
      },
      {
        name: "ops",
        type: "slack",
        url: { file: "/etc/stackpilot/slack-url" },
        events: ["deploy_failed", "deploy_succeeded", "heal_failed"],
        repos: ["acme/*"],
        reminder: 21_600_000,
      },
      expect.objectContaining({ name: "discord-3", type: "discord", url: { env: "DISCORD_WEBHOOK_URL" } }),
    ]);
  });

  it("refuses a Slack or Discord URL written inline, without repeating it", () => {
    const url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
    const errors = errorsOf(`notifications:\n  - type: slack\n    url: ${url}\n`);
    expect(errors).toEqual([`hosts.yml:3:10: error: ${INLINE_SECRET_MESSAGE} (at notifications[0].url)`]);
    expect(errors.join("\n")).not.toContain("XXXXSECRET");
    expect(errorsOf("notifications:\n  - type: discord\n    url: { env: lower }\n")[0]).toContain(
      "hosts.yml:3:",
    );
  });

  it("wants a webhook's signing secret, as a reference, and a plain URL without credentials", () => {
    expect(errorsOf("notifications:\n  - type: webhook\n    url: https://h.example/x\n")).toEqual([
      "hosts.yml:2:5: error: a secret is referenced as { file: PATH } or { env: VAR } (at notifications[0].secret)",
    ]);
    expect(
      errorsOf(
        "notifications:\n  - type: webhook\n    url: https://user:pw@h.example/x\n    secret: { env: S }\n",
      ).join("\n"),
    ).toContain("a URL with credentials must be a secret");
    expect(
      errorsOf("notifications:\n  - type: webhook\n    url: ftp://h.example/x\n    secret: { env: S }\n")[0],
    ).toMatch(/^hosts\.yml:3:10: error: /);
  });

  it("reports unknown events, types and keys, short reminders and duplicate names at their lines", () => {
    expect(
      errorsOf("notifications:\n  - type: discord\n    url: { env: D }\n    events: [deploy_fialed]\n")[0],
    ).toMatch(/^hosts\.yml:4:14: error: .*deploy_failed/);
    expect(errorsOf("notifications:\n  - type: teams\n    url: { env: D }\n")[0]).toBe(
      "hosts.yml:2:11: error: Invalid discriminator value. Expected 'webhook' | 'slack' | 'discord' (at notifications[0].type)",
    );
    expect(errorsOf("notifications:\n  - type: discord\n    url: { env: D }\n    evnts: [drift]\n")).toEqual([
      'hosts.yml:4:5: error: unknown key "evnts"; did you mean "events"? (at notifications[0].evnts)',
    ]);
    expect(errorsOf("notifications:\n  - type: discord\n    url: { env: D }\n    reminder: 5m\n")).toEqual([
      "hosts.yml:4:15: error: 5m is out of bounds: from 1h to 30d (at notifications[0].reminder)",
    ]);
    expect(
      errorsOf(
        "notifications:\n  - { name: ops, type: discord, url: { env: D } }\n  - { name: ops, type: slack, url: { env: S } }\n",
      ),
    ).toEqual(['hosts.yml:3:13: error: duplicate notification channel "ops" (at notifications[1].name)']);
  });
});
