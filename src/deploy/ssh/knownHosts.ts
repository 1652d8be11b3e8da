/**
 * known_hosts files, in OpenSSH's format so operators can read, edit and reuse them with `ssh`:
 *   [@marker] <patterns> <keytype> <base64> [comment]
 * Patterns are comma separated, may be negated (`!`), use `*`/`?`, be `[addr]:port` for ports
 * other than 22, or be hashed (`|1|salt|hmac`, HashKnownHosts).
 */
import { createHmac } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { decodePublicKey, type PublicKey } from "./hostKeys.ts";

export interface KnownHostsEntry extends PublicKey {
  /** 1-based line number. */
  line: number;
  marker?: "@cert-authority" | "@revoked";
  patterns: string;
  comment?: string;
}

export interface KnownHostsParse {
  entries: KnownHostsEntry[];
  errors: { line: number; message: string }[];
}

export function parseKnownHosts(text: string): KnownHostsParse {
  const out: KnownHostsParse = { entries: [], errors: [] };
  text.split(/\r?\n/).forEach((raw, i) => {
    const s = raw.trim();
    if (s === "" || s.startsWith("#")) return;
    const fields = s.split(/\s+/);
    let marker: KnownHostsEntry["marker"];
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m !== "@cert-authority" && m !== "@revoked") {
        out.errors.push({ line: i + 1, message: `unknown marker ${m}` });
        return;
      }
      marker = m;
    }
    const [patterns, type, base64, ...comment] = fields;
    const key = patterns && type && base64 ? decodePublicKey(type, base64) : undefined;
    if (!patterns || !key) {
      out.errors.push({ line: i + 1, message: "expected <hosts> <keytype> <base64-key>" });
      return;
    }
    out.entries.push({
      line: i + 1,
      ...(marker ? { marker } : {}),
      patterns,
      ...key,
      ...(comment.length ? { comment: comment.join(" ") } : {}),
    });
  });
  return out;
}

/** How OpenSSH names a host in known_hosts: `addr`, or `[addr]:port` off port 22. */
export const hostToken = (address: string, port: number): string =>
  port === 22 ? address.toLowerCase() : `[${address.toLowerCase()}]:${port}`;

/** Does a comma-separated pattern list match this host? Any negated match vetoes. */
export function patternsMatch(patterns: string, address: string, port: number): boolean {
  const name = hostToken(address, port);
  let matched = false;
  for (const p of patterns.split(",")) {
    if (p.startsWith("|1|")) {
      if (hashedMatches(p, name)) matched = true;
      continue;
    }
    const negated = p.startsWith("!");
    const pat = (negated ? p.slice(1) : p).toLowerCase();
    if (!globMatches(pat, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split("|");
  if (!salt || !hash) return false;
  const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
  return mac === hash;
}

function globMatches(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(name);
}

export const formatKnownHostsLine = (
  address: string,
  port: number,
  key: PublicKey,
  comment?: string,
): string =>
  `${hostToken(address, port)} ${key.type} ${key.blob.toString("base64")}${comment ? ` ${comment}` : ""}`;

/**
 * The server-side store of trust-on-first-use pins. Reads the file on every lookup (so pins written
 * by another process count) and serializes this process's writes (so two connections to the same
 * address cannot both pin).
 */
export class KnownHostsStore {
  readonly file: string;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  /** Keys pinned for this address and port (markers are ignored: we never write them). */
  async lookup(address: string, port: number): Promise<KnownHostsEntry[]> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    return parseKnownHosts(text).entries.filter((e) => !e.marker && patternsMatch(e.patterns, address, port));
  }

  /** Pin `key` unless the host already has a pin; returns the pin that is in force. */
  addIfAbsent(address: string, port: number, key: PublicKey, comment?: string): Promise<PublicKey> {
    const next = this.#writes.then(async () => {
      const existing = await this.lookup(address, port);
      if (existing[0]) return existing.find((e) => e.blob.equals(key.blob)) ?? existing[0];
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      await appendFile(this.file, `${formatKnownHostsLine(address, port, key, comment)}\n`, { mode: 0o600 });
      return key;
    });
    this.#writes = next.catch(() => undefined);
    return next;
  }
}
