/**
 * The client credential for a host: a private key from a file or an env var, else ssh-agent.
 * Key material stays in memory: never logged, never in argv, never in an error message.
 */
import { readFile } from "node:fs/promises";
import ssh2 from "ssh2";
import type { HostConfig } from "../../config/hostsFile.ts";
import { expandHome } from "../../config/secretRef.ts";
import { AuthError } from "./errors.ts";

export type ClientAuth = { privateKey: Buffer } | { agent: string };

export async function loadAuth(host: HostConfig, env: NodeJS.ProcessEnv = process.env): Promise<ClientAuth> {
  const key = host.key;
  if (!key) {
    if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
    throw new AuthError(
      host.name,
      `no key configured for ${host.name} and no ssh-agent (SSH_AUTH_SOCK) to use`,
    );
  }
  let data: Buffer;
  let source: string;
  if ("file" in key) {
    const file = expandHome(key.file);
    source = `key file ${file}`;
    try {
      data = await readFile(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === "ENOENT"
          ? "does not exist"
          : code === "EACCES"
            ? "is not readable"
            : `cannot be read (${code})`;
      throw new AuthError(host.name, `${source} of ${host.name} ${why}`);
    }
  } else {
    source = `env var ${key.env}`;
    const value = env[key.env];
    if (!value?.trim()) throw new AuthError(host.name, `${source} (key of ${host.name}) is not set or empty`);
    // CI secrets often arrive with literal "\n" instead of newlines.
    data = Buffer.from(value.includes("\n") ? value : value.replace(/\\n/g, "\n"));
  }
  checkPrivateKey(host.name, source, data);
  return { privateKey: data };
}

/** Fail here with a clear message, not later with ssh2's "Cannot parse privateKey". */
function checkPrivateKey(host: string, source: string, data: Buffer): void {
  const parsed = ssh2.utils.parseKey(data);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (first instanceof Error || !first) {
    const msg = first instanceof Error ? first.message : "no key found";
    if (/encrypted/i.test(msg) || /passphrase/i.test(msg))
      throw new AuthError(host, `${source} of ${host} is encrypted; use a deploy key without a passphrase`);
    throw new AuthError(host, `${source} of ${host} is not a private key ssh2 can read: ${msg}`);
  }
  if (!first.isPrivateKey())
    throw new AuthError(host, `${source} of ${host} holds a public key, not a private key`);
}
