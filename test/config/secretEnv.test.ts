// Secrets from files (`NAME_FILE`), as Docker and Kubernetes mount them: the value is read, errors
// name the variable and the file but never print what the file holds.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { withSecretFiles } from "../../src/config/secretEnv.ts";

const dir = mkdtempSync(join(tmpdir(), "sp-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function failure(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("withSecretFiles", () => {
  it("reads WEBHOOK_SECRET_FILE into WEBHOOK_SECRET, dropping the one final newline an editor adds", () => {
    const env = withSecretFiles({ WEBHOOK_SECRET_FILE: secretFile("hook", "s3cret value\n"), PORT: "3000" });
    expect(env.WEBHOOK_SECRET).toBe("s3cret value");
    expect(env.PORT).toBe("3000");
  });

  it("keeps a private key's inner newlines", () => {
    const pem = "-----BEGIN KEY-----\nabc\ndef\n-----END KEY-----\n";
    expect(withSecretFiles({ PRIVATE_KEY_FILE: secretFile("key", pem) }).PRIVATE_KEY).toBe(pem.slice(0, -1));
  });

  it("puts DATABASE_PASSWORD_FILE's password into DATABASE_URL, encoded so that URL characters survive", () => {
    const env = withSecretFiles({
      DATABASE_URL: "postgres://stackpilot@db:5432/stackpilot",
      DATABASE_PASSWORD_FILE: secretFile("pg", "p@ss:w/rd%41\n"),
    });
    const url = new URL(env.DATABASE_URL as string);
    expect(decodeURIComponent(url.password)).toBe("p@ss:w/rd%41");
    expect(url.username).toBe("stackpilot");
    expect(url.host).toBe("db:5432");
    expect(url.pathname).toBe("/stackpilot");
  });

  it("refuses a variable given both ways, naming it", () => {
    const message = failure(() =>
      withSecretFiles({ WEBHOOK_SECRET: "inline", WEBHOOK_SECRET_FILE: secretFile("both", "file") }),
    );
    expect(message).toBe("WEBHOOK_SECRET and WEBHOOK_SECRET_FILE are both set: set one of them");
  });

  it("names the variable and the file of a missing, unreadable or empty file, never its content", () => {
    const missing = join(dir, "nope");
    expect(failure(() => withSecretFiles({ WEBHOOK_SECRET_FILE: missing }))).toBe(
      `WEBHOOK_SECRET_FILE: cannot read ${missing} (ENOENT)`,
    );
    expect(failure(() => withSecretFiles({ WEBHOOK_SECRET_FILE: dir }))).toBe(
      `WEBHOOK_SECRET_FILE: cannot read ${dir} (EISDIR)`,
    );
    const empty = secretFile("empty", "\n");
    expect(failure(() => withSecretFiles({ STACKPILOT_METRICS_TOKEN_FILE: empty }))).toBe(
      `STACKPILOT_METRICS_TOKEN_FILE: ${empty} is empty`,
    );
    if (process.getuid?.() !== 0) {
      const locked = secretFile("locked", "hidden-value");
      chmodSync(locked, 0o000);
      expect(failure(() => withSecretFiles({ WEBHOOK_SECRET_FILE: locked }))).not.toContain("hidden-value");
    }
  });

  it("refuses a password file with a DATABASE_URL that has a password, no user, or is not a URL, without echoing the URL", () => {
    const pw = secretFile("pw", "pw");
    expect(
      failure(() =>
        withSecretFiles({ DATABASE_URL: "postgres://u:inline@db/x", DATABASE_PASSWORD_FILE: pw }),
      ),
    ).not.toContain("inline");
    expect(
      failure(() => withSecretFiles({ DATABASE_URL: "postgres://db/x", DATABASE_PASSWORD_FILE: pw })),
    ).toContain("names no user");
    expect(
      failure(() => withSecretFiles({ DATABASE_URL: "not a url s3cr3t", DATABASE_PASSWORD_FILE: pw })),
    ).toBe("DATABASE_URL is not a URL (postgres://user@host:5432/database)");
    expect(failure(() => withSecretFiles({ DATABASE_PASSWORD_FILE: pw }))).toBe(
      "DATABASE_PASSWORD_FILE is set but DATABASE_URL is not",
    );
  });

  it("reads the web UI's secrets from files too", () => {
    const env = withSecretFiles({
      GITHUB_CLIENT_SECRET_FILE: secretFile("oauth", "client-secret\n"),
      STACKPILOT_UI_TOKEN_FILE: secretFile("ui-read", "read-token\n"),
      STACKPILOT_UI_TOKEN_WRITE_FILE: secretFile("ui-write", "write-token\n"),
    });
    expect([env.GITHUB_CLIENT_SECRET, env.STACKPILOT_UI_TOKEN, env.STACKPILOT_UI_TOKEN_WRITE]).toEqual([
      "client-secret",
      "read-token",
      "write-token",
    ]);
  });

  it("leaves an environment without _FILE variables as it is", () => {
    const env = { WEBHOOK_SECRET: "x", DATABASE_URL: "postgres://a@b/c" };
    expect(withSecretFiles(env)).toEqual(env);
  });
});
