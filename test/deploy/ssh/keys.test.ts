import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostSchema } from "../../../src/config/hostsFile.ts";
import { expandHome } from "../../../src/config/secretRef.ts";
import { AuthError } from "../../../src/deploy/ssh/errors.ts";
import { loadAuth } from "../../../src/deploy/ssh/keys.ts";

let dir: string;
const host = (key: unknown) => HostSchema.parse({ name: "h", address: "192.0.2.1", key });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-keys-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "plain")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", join(dir, "encrypted")]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("loadAuth", () => {
  it("reads a key file, expanding ~", async () => {
    const auth = await loadAuth(host({ file: join(dir, "plain") }));
    expect("privateKey" in auth && auth.privateKey.toString()).toContain("OPENSSH PRIVATE KEY");
    expect(expandHome("~/x", "/home/u")).toBe("/home/u/x");
    expect(expandHome("~", "/home/u")).toBe("/home/u");
    expect(expandHome("/abs/~/x", "/home/u")).toBe("/abs/~/x");
  });

  it("reads a key from an env var, also with escaped newlines", async () => {
    const pem = readFileSync(join(dir, "plain"), "utf8");
    for (const value of [pem, pem.replace(/\n/g, "\\n")]) {
      const auth = await loadAuth(host({ env: "SP_KEY" }), { SP_KEY: value });
      expect("privateKey" in auth && auth.privateKey.toString()).toBe(pem);
    }
  });

  it("fails clearly, without key material in the message", async () => {
    const cases: [unknown, NodeJS.ProcessEnv, RegExp][] = [
      [{ file: join(dir, "missing") }, {}, /key file .*missing of h does not exist/],
      [{ file: join(dir, "encrypted") }, {}, /is encrypted; use a deploy key without a passphrase/],
      [{ file: join(dir, "plain.pub") }, {}, /(public key|not a private key)/],
      [{ env: "SP_KEY" }, {}, /env var SP_KEY \(key of h\) is not set/],
      [{ env: "SP_KEY" }, { SP_KEY: "not a key" }, /env var SP_KEY of h is not a private key/],
      [undefined, {}, /no key configured for h and no ssh-agent/],
    ];
    for (const [key, env, message] of cases) {
      const err = await loadAuth(host(key), env).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("PRIVATE KEY");
      expect(err).toMatchObject({ host: "h" });
    }
    if (process.getuid?.() !== 0) {
      chmodSync(join(dir, "plain"), 0);
      await expect(loadAuth(host({ file: join(dir, "plain") }))).rejects.toThrow(/is not readable/);
    }
  });

  it("falls back to ssh-agent when no key is configured", async () => {
    expect(await loadAuth(host(undefined), { SSH_AUTH_SOCK: "/tmp/agent.sock" })).toEqual({
      agent: "/tmp/agent.sock",
    });
  });
});
