import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  formatKnownHostsLine,
  hostToken,
  KnownHostsStore,
  parseKnownHosts,
  patternsMatch,
} from "../../../src/deploy/ssh/knownHosts.ts";

let dir: string;
let ed: string;
let rsa: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-knownhosts-"));
  for (const [name, args] of [
    ["ed", ["-t", "ed25519"]],
    ["rsa", ["-t", "rsa", "-b", "2048"]],
  ] as const)
    execFileSync("ssh-keygen", ["-q", "-N", "", "-C", name, "-f", join(dir, name), ...args]);
  ed = readFileSync(join(dir, "ed.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  rsa = readFileSync(join(dir, "rsa.pub"), "utf8").split(" ").slice(0, 2).join(" ");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseKnownHosts", () => {
  it("reads entries, markers and comments; reports broken lines by number", () => {
    const text = [
      "# comment",
      "",
      `host-a,192.0.2.1 ${ed} a comment here`,
      `@revoked * ${rsa}`,
      `[192.0.2.2]:2222 ${rsa}`,
      "host-b ssh-ed25519 !!!notbase64",
      `@bogus host-c ${ed}`,
      `host-d ssh-rsa ${ed.split(" ")[1]}`,
      "   ",
    ].join("\r\n");
    const { entries, errors } = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.patterns, e.type, e.comment])).toEqual([
      [3, undefined, "host-a,192.0.2.1", "ssh-ed25519", "a comment here"],
      [4, "@revoked", "*", "ssh-rsa", undefined],
      [5, undefined, "[192.0.2.2]:2222", "ssh-rsa", undefined],
    ]);
    // A type that disagrees with the blob is an error, not a key.
    expect(errors.map((e) => e.line)).toEqual([6, 7, 8]);
    expect(entries[0]?.blob.toString("base64")).toBe(ed.split(" ")[1]);
  });
});

describe("patternsMatch", () => {
  it("matches names and ports the way OpenSSH writes them", () => {
    expect(hostToken("Host.Example", 22)).toBe("host.example");
    expect(hostToken("192.0.2.1", 2222)).toBe("[192.0.2.1]:2222");
    expect(patternsMatch("a,192.0.2.1", "192.0.2.1", 22)).toBe(true);
    expect(patternsMatch("192.0.2.1", "192.0.2.1", 2222)).toBe(false);
    expect(patternsMatch("[192.0.2.1]:2222", "192.0.2.1", 2222)).toBe(true);
    expect(patternsMatch("HOST.example", "host.EXAMPLE", 22)).toBe(true);
  });

  it("supports wildcards and negation", () => {
    expect(patternsMatch("*.example.com", "web.example.com", 22)).toBe(true);
    expect(patternsMatch("web?.example.com", "web1.example.com", 22)).toBe(true);
    expect(patternsMatch("web?.example.com", "web10.example.com", 22)).toBe(false);
    expect(patternsMatch("*.example.com,!db.example.com", "db.example.com", 22)).toBe(false);
    expect(patternsMatch("192.0.2.*", "192.0.2.77", 22)).toBe(true);
    expect(patternsMatch("192.0.2.*", "192.0.20.7", 22)).toBe(false);
  });

  it("matches hashed entries written by ssh-keygen -H", () => {
    const file = join(dir, "hashed");
    writeFileSync(file, `${formatKnownHostsLine("192.0.2.9", 22, keyOf(ed))}\n[192.0.2.9]:2200 ${rsa}\n`);
    execFileSync("ssh-keygen", ["-H", "-f", file], { stdio: "ignore" });
    const { entries } = parseKnownHosts(readFileSync(file, "utf8"));
    expect(entries.every((e) => e.patterns.startsWith("|1|"))).toBe(true);
    expect(entries.filter((e) => patternsMatch(e.patterns, "192.0.2.9", 22)).map((e) => e.type)).toEqual([
      "ssh-ed25519",
    ]);
    expect(entries.filter((e) => patternsMatch(e.patterns, "192.0.2.9", 2200)).map((e) => e.type)).toEqual([
      "ssh-rsa",
    ]);
    expect(entries.some((e) => patternsMatch(e.patterns, "192.0.2.10", 22))).toBe(false);
  });
});

describe("KnownHostsStore", () => {
  it("looks up by address and port, ignores markers, and writes lines ssh-keygen can read", async () => {
    const file = join(dir, "store", "nested", "known_hosts");
    const store = new KnownHostsStore(file);
    expect(await store.lookup("192.0.2.1", 22)).toEqual([]);
    const pinned = await store.addIfAbsent("192.0.2.1", 22, keyOf(ed), "stackpilot:a");
    expect(pinned.type).toBe("ssh-ed25519");
    // Already pinned: the existing pin stays in force.
    expect((await store.addIfAbsent("192.0.2.1", 22, keyOf(rsa))).type).toBe("ssh-ed25519");
    await store.addIfAbsent("192.0.2.1", 2222, keyOf(rsa));
    expect((await store.lookup("192.0.2.1", 22)).map((e) => e.type)).toEqual(["ssh-ed25519"]);
    expect((await store.lookup("192.0.2.1", 2222)).map((e) => e.type)).toEqual(["ssh-rsa"]);
    // ssh-keygen -F finds our lines.
    const found = execFileSync("ssh-keygen", ["-F", "[192.0.2.1]:2222", "-f", file], { encoding: "utf8" });
    expect(found).toContain(rsa);
  });
});

function keyOf(line: string) {
  const [type, b64] = line.split(" ") as [string, string];
  return { type, blob: Buffer.from(b64, "base64") };
}
