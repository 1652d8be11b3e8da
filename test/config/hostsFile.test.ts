import { describe, expect, it } from "vitest";
import { isHostAddress, parseHostsFile } from "../../src/config/hostsFile.ts";
import { formatProblem } from "../../src/config/problems.ts";
import { INLINE_SECRET_MESSAGE } from "../../src/config/secretRef.ts";

const errorsOf = (yaml: string) =>
  parseHostsFile(yaml, "hosts.yml")
    .problems.filter((p) => p.severity === "error")
    .map(formatProblem);

const host = (name: string, more = "") =>
  `  - name: ${name}\n    address: 10.0.0.1\n    trust_on_first_use: true\n${more}`;

describe("hosts file addresses", () => {
  it("accepts DNS names and IP addresses", () => {
    for (const a of [
      "app-1",
      "app-1.example.com",
      "xn--bcher-kva.example",
      "10.0.0.1",
      "::1",
      "2001:db8::5",
      "a".repeat(63),
    ])
      expect([a, isHostAddress(a)]).toEqual([a, true]);
  });

  it("refuses what is neither: options for ssh, broken IPv6, bad labels, mistyped IPv4", () => {
    for (const a of [
      "-oProxyCommand=sh -c reboot",
      "-oProxyCommand=x",
      "::::",
      "1:2",
      "",
      "-app",
      "app-",
      "a..b",
      ".a",
      "a_b",
      "a b",
      "10.0.0.256",
      "a".repeat(64),
      `${"a.".repeat(127)}a`,
    ])
      expect([a, isHostAddress(a)]).toEqual([a, false]);
  });

  it("reports a bad address at its line and column", () => {
    expect(errorsOf("hosts:\n  - name: h1\n    address: '-oProxyCommand=touch /tmp/x'\n")).toEqual([
      "hosts.yml:3:14: error: address must be a DNS name (labels of letters, digits and hyphens, no hyphen at either end) or an IP address (at hosts[0].address)",
    ]);
  });
});

describe("hosts file jump hosts", () => {
  it("accepts a chain that ends at a host reached directly", () => {
    expect(
      errorsOf(`hosts:\n${host("a", "    jump: b\n")}${host("b", "    jump: c\n")}${host("c")}`),
    ).toEqual([]);
  });

  it("refuses a host that jumps through itself", () => {
    expect(errorsOf(`hosts:\n${host("a", "    jump: a\n")}`)).toEqual([
      "hosts.yml:5:11: error: jump host loop: a -> a (at hosts[0].jump)",
    ]);
  });

  it("names a loop once, at its first host, and each host that leads into it", () => {
    const yaml = `hosts:\n${host("c", "    jump: a\n")}${host("a", "    jump: b\n")}${host("b", "    jump: a\n")}`;
    expect(errorsOf(yaml)).toEqual([
      'hosts.yml:5:11: error: host "c" jumps into a jump host loop: c -> a -> b -> a (at hosts[0].jump)',
      "hosts.yml:9:11: error: jump host loop: a -> b -> a (at hosts[1].jump)",
    ]);
  });
});

describe("hosts file secrets", () => {
  const KEY =
    "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA\\n-----END OPENSSH PRIVATE KEY-----";

  it("tells a key or password written inline to reference it instead, without repeating the value", () => {
    const problems = parseHostsFile(
      [
        "registries:",
        "  - {name: r, address: r.example.com, username: ci, password: hunter2-secret}",
        "hosts:",
        "  - name: h1",
        "    address: 10.0.0.1",
        "    trust_on_first_use: true",
        `    key: "${KEY}"`,
        "    registry_auth: {r: {username: u, password: 'hunter3-secret'}}",
        "",
      ].join("\n"),
      "hosts.yml",
    ).problems;
    expect(problems.map(formatProblem)).toEqual([
      `hosts.yml:7:10: error: ${INLINE_SECRET_MESSAGE} (at hosts[0].key)`,
      `hosts.yml:8:48: error: ${INLINE_SECRET_MESSAGE} (at hosts[0].registry_auth.r.password)`,
      `hosts.yml:2:63: error: ${INLINE_SECRET_MESSAGE} (at registries[0].password)`,
    ]);
    const text = JSON.stringify(problems);
    for (const secret of ["hunter2", "hunter3", "BEGIN OPENSSH", "b3BlbnNzaC1"])
      expect(text).not.toContain(secret);
  });

  it("keeps the precise message for a reference that is wrong, and accepts right ones", () => {
    const yaml = (key: string) =>
      `hosts:\n  - name: h1\n    address: 10.0.0.1\n    trust_on_first_use: true\n    key: ${key}\n`;
    expect(errorsOf(yaml("{env: lower}"))).toEqual([
      "hosts.yml:5:16: error: env var names are A-Z, 0-9 and _ (at hosts[0].key.env)",
    ]);
    expect(errorsOf(yaml("123456"))).toEqual([
      `hosts.yml:5:10: error: ${INLINE_SECRET_MESSAGE} (at hosts[0].key)`,
    ]);
    expect(errorsOf(yaml("[a]"))).toEqual([
      "hosts.yml:5:10: error: a secret is referenced as { file: PATH } or { env: VAR } (at hosts[0].key)",
    ]);
    expect(errorsOf(yaml("{fiel: ~/.ssh/id}"))).toEqual([
      'hosts.yml:5:11: error: unknown key "fiel"; did you mean "file"? a secret is referenced as { file: PATH } or { env: VAR } (at hosts[0].key.fiel)',
    ]);
    expect(errorsOf(yaml("{file: a, env: B}"))).toEqual([
      "hosts.yml:5:10: error: a secret is referenced as { file: PATH } or { env: VAR }, not both (at hosts[0].key)",
    ]);
    expect(errorsOf(yaml("{file: ''}"))).toEqual([
      "hosts.yml:5:17: error: file: a non-empty path (at hosts[0].key.file)",
    ]);
    expect(errorsOf(yaml("{file: ~/.ssh/id}"))).toEqual([]);
    expect(parseHostsFile(yaml("{env: SSH_KEY}"), "hosts.yml").hosts[0]?.key).toEqual({ env: "SSH_KEY" });
  });
});
