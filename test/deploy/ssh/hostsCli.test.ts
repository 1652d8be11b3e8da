// `stackpilot hosts` without hosts to connect to: listing and usage. Checks against real hosts are
// in test/e2e/ssh.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.ts";

const FP = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";
let dir: string;
let hostsFile: string;

async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-hosts-cli-"));
  hostsFile = join(dir, "hosts.yml");
  writeFileSync(
    hostsFile,
    `hosts:
  - name: app-1
    address: 192.0.2.11
    labels: { role: app, zone: a }
    key: { env: STACKPILOT_SSH_KEY }
    host_key: "${FP}"
  - name: app-2
    address: 192.0.2.12
    port: 2222
    user: ops
    key: { file: ~/.ssh/deploy }
    trust_on_first_use: true
    jump: app-1
  - name: edge-1
    address: 192.0.2.21
`,
  );
  // A TOFU pin already taken for app-2.
  writeFileSync(
    join(dir, "known_hosts"),
    "[192.0.2.12]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKgd2gTqr8CQr4mDCFtC8mxJtdg6hsYUqZcfHbsIHUbl stackpilot:app-2\n",
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("stackpilot hosts list", () => {
  it("prints name, address, user, labels, key source and pinning", async () => {
    const { code, out, err } = await cli("hosts", "list", "--hosts", hostsFile, "--data", dir);
    expect(code, err).toBe(0);
    const lines = out.trim().split("\n");
    expect(lines[0]).toMatch(/^HOST +ADDRESS +USER +LABELS +KEY +HOST KEY$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^app-1 +192\\.0\\.2\\.11:22 +deploy +role=app,zone=a +env STACKPILOT_SSH_KEY +pinned ${FP.replace(/[+/]/g, "\\$&")}$`,
      ),
    );
    expect(lines[2]).toMatch(
      /^app-2 +192\.0\.2\.12:2222 via app-1 +ops +- +file ~\/\.ssh\/deploy +TOFU, pinned SHA256:/,
    );
    expect(lines[3]).toMatch(/^edge-1 .* ssh-agent +none: connections refused$/);
  });

  it("prints JSON and filters with --host", async () => {
    const { code, out } = await cli(
      "hosts",
      "list",
      "--hosts",
      hostsFile,
      "--data",
      dir,
      "--json",
      "--host",
      "app-*",
    );
    expect(code).toBe(0);
    const { hosts } = JSON.parse(out);
    expect(hosts.map((h: { host: string }) => h.host)).toEqual(["app-1", "app-2"]);
    expect(hosts[1]).toMatchObject({ via: "app-1", hostKey: { mode: "tofu", stored: true } });
  });
});

describe("stackpilot hosts usage", () => {
  it("exits 2 with the help on usage errors", async () => {
    for (const argv of [
      ["hosts"],
      ["hosts", "ping", "--hosts", hostsFile],
      ["hosts", "list"],
      ["hosts", "check", "--hosts", hostsFile, "--timeout", "soon"],
      ["hosts", "list", "--hosts", hostsFile, "--host", "nope-*"],
      ["hosts", "list", "extra", "--hosts", hostsFile],
      ["hosts", "list", "--bogus"],
    ]) {
      const { code, err } = await cli(...argv);
      expect(code, argv.join(" ")).toBe(2);
      expect(err).toContain("Usage: stackpilot hosts <list|check>");
    }
    const help = await cli("hosts", "--help");
    expect(help.code).toBe(0);
    expect((await cli("--help")).out).toContain("hosts       list the hosts");
  });

  it("exits 1 with file:line:col on hosts file errors", async () => {
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "hosts:\n  - name: a\n    address: 192.0.2.1\n    jump: nowhere\n");
    const { code, err } = await cli("hosts", "check", "--hosts", bad);
    expect(code).toBe(1);
    expect(err).toContain(`${bad}:4:11: error: unknown jump host "nowhere"`);
  });
});
