import { describe, expect, it } from "vitest";
import { isHostAddress, parseHostsFile } from "../../src/config/hostsFile.ts";
import { formatProblem } from "../../src/config/problems.ts";

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
