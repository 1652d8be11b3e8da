/**
 * Secrets given as files, as Docker and Kubernetes secrets are mounted: `NAME_FILE=/run/secrets/x`
 * stands for `NAME=<that file's content>` (one final newline dropped), so the value is never in the
 * container's environment or its definition. `DATABASE_PASSWORD_FILE` puts a password into a
 * `DATABASE_URL` written without one (the same file a Postgres container reads as
 * `POSTGRES_PASSWORD_FILE`). Error messages name the variable and the file, never the content.
 */
import { readFileSync } from "node:fs";

export const FILE_SECRETS = [
  "WEBHOOK_SECRET",
  "PRIVATE_KEY",
  "DATABASE_URL",
  "STACKPILOT_METRICS_TOKEN",
  "GITHUB_CLIENT_SECRET",
  "STACKPILOT_UI_TOKEN",
  "STACKPILOT_UI_TOKEN_WRITE",
] as const;

type Env = Record<string, string | undefined>;
type WithSecrets<E> = E & { [K in (typeof FILE_SECRETS)[number]]?: string };

/** The environment with every `NAME_FILE` read into `NAME`; throws naming the variable on a problem. */
export function withSecretFiles<E extends Env>(
  env: E,
  read: (path: string) => string = readText,
): WithSecrets<E> {
  const out: Env = { ...env };
  for (const name of FILE_SECRETS) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) throw new Error(`${name} and ${name}_FILE are both set: set one of them`);
    out[name] = secretFrom(`${name}_FILE`, file, read);
  }
  const passwordFile = env.DATABASE_PASSWORD_FILE;
  if (passwordFile)
    out.DATABASE_URL = withPassword(
      out.DATABASE_URL,
      secretFrom("DATABASE_PASSWORD_FILE", passwordFile, read),
    );
  return out as WithSecrets<E>;
}

function withPassword(databaseUrl: string | undefined, password: string): string {
  if (!databaseUrl) throw new Error("DATABASE_PASSWORD_FILE is set but DATABASE_URL is not");
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new Error("DATABASE_URL is not a URL (postgres://user@host:5432/database)");
  }
  if (url.password) throw new Error("DATABASE_URL has a password and DATABASE_PASSWORD_FILE is set: use one");
  if (!url.username) throw new Error("DATABASE_URL names no user for the password of DATABASE_PASSWORD_FILE");
  // Encoded in full: the URL setter would leave `%` as it is, which the driver then decodes.
  url.password = encodeURIComponent(password);
  return url.toString();
}

function secretFrom(variable: string, file: string, read: (path: string) => string): string {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const value = text.replace(/\r?\n$/, "");
  if (!value) throw new Error(`${variable}: ${file} is empty`);
  return value;
}

function readText(path: string): string {
  return readFileSync(path, "utf8");
}
