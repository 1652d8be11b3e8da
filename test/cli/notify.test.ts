/**
 * Notifications from the CLI: a `stackpilot deploy` that fails tells the hosts file's channels,
 * signed, before the command exits; a receiver that never answers delays the exit only by the
 * bounded wait. The host is a closed loopback port (the deploy fails connecting); the receiver is
 * a real HTTP server on loopback.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliNotifications } from "../../src/cli/notify.ts";
import type { NotificationChannel } from "../../src/config/notifications.ts";
import { runCli } from "../helpers/cli.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const SECRET = "cli-notify-signing-secret";

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("notifications from stackpilot deploy", () => {
  let dir: string;
  let t: TestRepo;
  let receiver: Server;
  let url: string;
  const received: { body: string; signature: string | undefined }[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const signature = req.headers["x-stackpilot-signature-256"];
        received.push({ body: Buffer.concat(chunks).toString("utf8"), signature: signature as string });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    dir = mkdtempSync(join(tmpdir(), "sp-cli-notify-"));
    t = new TestRepo();
    t.write({
      ".github/stackpilot.yml": "defaults:\n  hosts: [h1]\n",
      "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:1\n",
    });
    t.commit("init");
  });
  afterAll(async () => {
    t.remove();
    rmSync(dir, { recursive: true, force: true });
    await new Promise<void>((r) => receiver.close(() => r()));
  });

  it("tells a failed deploy to the webhook channel, signed, before exiting", async () => {
    const hosts = join(dir, "hosts.yml");
    writeFileSync(
      hosts,
      [
        "hosts:",
        "  - name: h1",
        "    address: 127.0.0.1",
        `    port: ${await closedPort()}`,
        "    trust_on_first_use: true",
        "notifications:",
        "  - type: webhook",
        "    name: ops",
        `    url: ${url}`,
        "    secret: { env: SP_TEST_NOTIFY_SECRET }",
        "",
      ].join("\n"),
    );
    process.env.SP_TEST_NOTIFY_SECRET = SECRET;
    try {
      const r = await runCli("deploy", "--repo", t.dir, "--hosts", hosts, "--data", join(dir, "data"));
      expect(r.code).toBe(1);
    } finally {
      delete process.env.SP_TEST_NOTIFY_SECRET;
    }
    expect(received).toHaveLength(1);
    const [got] = received;
    const body = JSON.parse(got?.body ?? "{}");
    expect(body).toMatchObject({ event: "deploy_failed", stack: "web", host: "h1" });
    expect(got?.signature).toBe(
      `sha256=${createHmac("sha256", SECRET)
        .update(got?.body ?? "")
        .digest("hex")}`,
    );
  }, 120_000);

  it("waits for a receiver that never answers only as long as its bound, and says so", async () => {
    const hanging = createServer(() => {});
    await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", r));
    const channel = {
      name: "stuck",
      type: "webhook",
      url: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/`,
      secret: { env: "SP_TEST_UNSET" },
      events: ["deploy_failed"],
      repos: [],
      reminder: 86_400_000,
    } as unknown as NotificationChannel;
    const lines: string[] = [];
    const store = { updateEpisode: async () => ({ result: "alert" as const }) };
    const n = cliNotifications([channel], store as never, (l) => lines.push(l), 500);
    n.notifier.emit({ type: "deploy", repo: "r", stack: "s", host: "h", commit: "a".repeat(40), ok: false });
    const t0 = Date.now();
    await n.finish();
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(lines.join("")).toContain("given up on");
    hanging.closeAllConnections();
    await new Promise<void>((r) => hanging.close(() => r()));
  }, 30_000);
});
