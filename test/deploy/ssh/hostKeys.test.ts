import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostSchema } from "../../../src/config/hostsFile.ts";
import { HostKeyMismatchError, HostKeyUnknownError } from "../../../src/deploy/ssh/errors.ts";
import {
  decodePublicKey,
  fingerprintOf,
  hostKeyAlgorithms,
  keyTypeOf,
  parsePin,
  pinMatches,
  verifyHostKey,
} from "../../../src/deploy/ssh/hostKeys.ts";
import { KnownHostsStore } from "../../../src/deploy/ssh/knownHosts.ts";

interface GeneratedKey {
  type: string;
  line: string;
  blob: Buffer;
  /** What `ssh-keygen -lf` prints. */
  fingerprint: string;
}

let dir: string;
const keys: Record<string, GeneratedKey> = {};

function generate(name: string, args: string[]): GeneratedKey {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", name, "-f", file, ...args]);
  const line = readFileSync(`${file}.pub`, "utf8").trim();
  const [type, b64] = line.split(" ") as [string, string];
  const fingerprint = execFileSync("ssh-keygen", ["-lf", `${file}.pub`], { encoding: "utf8" }).split(
    " ",
  )[1] as string;
  return { type, line: `${type} ${b64}`, blob: Buffer.from(b64, "base64"), fingerprint };
}

const host = (over: Record<string, unknown> = {}) =>
  HostSchema.parse({ name: "web-1", address: "192.0.2.5", key: { env: "K" }, ...over });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-hostkeys-"));
  keys.ed25519 = generate("ed", ["-t", "ed25519"]);
  keys.ed25519b = generate("ed2", ["-t", "ed25519"]);
  keys.rsa = generate("rsa", ["-t", "rsa", "-b", "2048"]);
  keys.ecdsa = generate("ec", ["-t", "ecdsa", "-b", "384"]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fingerprintOf", () => {
  it("matches ssh-keygen -lf for every key type", () => {
    for (const k of Object.values(keys)) {
      expect(fingerprintOf(k.blob)).toBe(k.fingerprint);
      expect(fingerprintOf(k.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    }
  });

  it("is SHA256 over the raw blob, base64 without padding (fixed vector)", () => {
    // sha256("") = e3b0c442...; base64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    expect(fingerprintOf(Buffer.alloc(0))).toBe("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
  });
});

describe("key blobs and pins", () => {
  it("reads the key type from the blob", () => {
    expect(keyTypeOf(keys.ed25519?.blob as Buffer)).toBe("ssh-ed25519");
    expect(keyTypeOf(keys.rsa?.blob as Buffer)).toBe("ssh-rsa");
    expect(keyTypeOf(keys.ecdsa?.blob as Buffer)).toBe("ecdsa-sha2-nistp384");
    expect(keyTypeOf(Buffer.from([0, 0, 0, 200, 1]))).toBeUndefined();
    expect(keyTypeOf(Buffer.alloc(2))).toBeUndefined();
  });

  it("decodes only keys whose blob declares the stated type", () => {
    const ed = keys.ed25519 as GeneratedKey;
    expect(decodePublicKey("ssh-ed25519", ed.blob.toString("base64"))?.blob.equals(ed.blob)).toBe(true);
    expect(decodePublicKey("ssh-rsa", ed.blob.toString("base64"))).toBeUndefined();
    expect(decodePublicKey("ssh-ed25519", "not base64!")).toBeUndefined();
  });

  it("parses fingerprints and known_hosts lines with or without host and comment", () => {
    const ed = keys.ed25519 as GeneratedKey;
    expect(parsePin(ed.fingerprint)).toEqual({ kind: "fingerprint", fingerprint: ed.fingerprint });
    expect(parsePin(`${ed.fingerprint}=`)).toEqual({ kind: "fingerprint", fingerprint: ed.fingerprint });
    for (const text of [ed.line, `192.0.2.5 ${ed.line}`, `[h.example]:2222,10.0.0.1 ${ed.line} root@h`]) {
      const pin = parsePin(text);
      expect(pin).toMatchObject({ kind: "key", type: "ssh-ed25519" });
      expect(pinMatches(pin, ed.blob)).toBe(true);
      expect(pinMatches(pin, keys.ed25519b?.blob as Buffer)).toBe(false);
    }
    expect(() => parsePin("ssh-ed25519 AAAAB3NzaC1yc2E")).toThrow(/neither/);
  });

  it("compares a fingerprint pin against the presented blob", () => {
    const pin = parsePin(keys.rsa?.fingerprint as string);
    expect(pinMatches(pin, keys.rsa?.blob as Buffer)).toBe(true);
    expect(pinMatches(pin, keys.ecdsa?.blob as Buffer)).toBe(false);
  });

  it("asks the server for the pinned key type first", () => {
    expect(hostKeyAlgorithms([])[0]).toBe("ssh-ed25519");
    expect(hostKeyAlgorithms(["ssh-rsa"]).slice(0, 3)).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
    const ec = hostKeyAlgorithms(["ecdsa-sha2-nistp384"]);
    expect(ec[0]).toBe("ecdsa-sha2-nistp384");
    expect(new Set(ec).size).toBe(ec.length);
    expect(hostKeyAlgorithms(["sk-ssh-ed25519@openssh.com"])[0]).toBe("ssh-ed25519");
  });
});

describe("verifyHostKey", () => {
  it("accepts the pinned key and refuses another one, naming both fingerprints", async () => {
    const ed = keys.ed25519 as GeneratedKey;
    const other = keys.ed25519b as GeneratedKey;
    expect(await verifyHostKey(host({ host_key: ed.fingerprint }), ed.blob, undefined)).toMatchObject({
      ok: true,
      how: "pinned",
    });
    const v = await verifyHostKey(host({ host_key: `web-1 ${ed.line}` }), other.blob, undefined);
    expect(v.ok).toBe(false);
    const err = (v as { error: Error }).error;
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.message).toContain(`expected ${ed.fingerprint} (ssh-ed25519)`);
    expect(err.message).toContain(`presented ${other.fingerprint} (ssh-ed25519)`);
    expect(err.message).toContain("web-1 (192.0.2.5:22)");
    expect(err).toMatchObject({ host: "web-1" });
  });

  it("refuses an unpinned host without trust_on_first_use", async () => {
    const store = new KnownHostsStore(join(dir, "none", "known_hosts"));
    const v = await verifyHostKey(host(), keys.ed25519?.blob as Buffer, store);
    expect(v.ok).toBe(false);
    expect((v as { error: Error }).error).toBeInstanceOf(HostKeyUnknownError);
  });

  it("pins on first use, then refuses a changed key; concurrent first uses agree on one pin", async () => {
    const file = join(dir, "tofu", "known_hosts");
    const store = new KnownHostsStore(file);
    const tofu = host({ trust_on_first_use: true, port: 2222 });
    const [a, b] = await Promise.all([
      verifyHostKey(tofu, keys.ed25519?.blob as Buffer, store),
      verifyHostKey(tofu, keys.ed25519b?.blob as Buffer, store),
    ]);
    // Either may reach the store first; exactly one is pinned and the other refused.
    const [winner, loser] = a.ok ? [keys.ed25519, keys.ed25519b] : [keys.ed25519b, keys.ed25519];
    expect([a, b].filter((r) => r.ok)).toEqual([expect.objectContaining({ ok: true, how: "first-use" })]);
    expect(readFileSync(file, "utf8")).toBe(`[192.0.2.5]:2222 ${winner?.line} stackpilot:web-1\n`);
    expect((await verifyHostKey(tofu, loser?.blob as Buffer, store)).ok).toBe(false);

    expect(await verifyHostKey(tofu, winner?.blob as Buffer, store)).toMatchObject({
      ok: true,
      how: "known_hosts",
    });
    const changed = await verifyHostKey(tofu, keys.rsa?.blob as Buffer, store);
    const err = (changed as { error: Error }).error;
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.message).toContain(`expected ${winner?.fingerprint}`);
    expect(err.message).toContain(`presented ${keys.rsa?.fingerprint}`);
    expect(err.message).toContain(file);
    // A hosts file pin wins over the store.
    expect(
      await verifyHostKey({ ...tofu, host_key: keys.rsa?.fingerprint }, keys.rsa?.blob as Buffer, store),
    ).toMatchObject({ ok: true, how: "pinned" });
  });
});
