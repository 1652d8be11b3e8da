import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";

describe("stackpilot hosts check", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sp-hosts-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a hosts file with a jump host loop before connecting anywhere, naming the loop", async () => {
    const file = join(dir, "loop.yml");
    // 192.0.2.0/24 is TEST-NET-1: a connection attempt would hang until the timeout.
    writeFileSync(
      file,
      [
        "hosts:",
        "  - { name: a, address: 192.0.2.1, jump: b, trust_on_first_use: true }",
        "  - { name: b, address: 192.0.2.2, jump: a, trust_on_first_use: true }",
        "  - { name: c, address: 192.0.2.3, trust_on_first_use: true }",
        "",
      ].join("\n"),
    );
    const started = Date.now();
    const { code, out, err } = await runCli(
      "hosts",
      "check",
      "--hosts",
      file,
      "--data",
      dir,
      "--timeout",
      "20",
    );
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toBe(`${file}:2:42: error: jump host loop: a -> b -> a (at hosts[0].jump)\n`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("refuses an address that would be an ssh option", async () => {
    const file = join(dir, "option.yml");
    writeFileSync(
      file,
      "hosts:\n  - { name: a, address: '-oProxyCommand=touch /tmp/pwned', trust_on_first_use: true }\n",
    );
    const { code, err } = await runCli("hosts", "list", "--hosts", file);
    expect(code).toBe(1);
    expect(err).toMatch(/:2:25: error: address must be a DNS name .* \(at hosts\[0\]\.address\)\n$/);
  });
});
