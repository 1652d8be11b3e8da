/**
 * Host key checks. ssh2 hands the verifier the raw key blob (SSH wire format); pins are compared
 * against that blob or its SHA256 fingerprint, computed exactly like `ssh-keygen -lf`.
 */
import { createHash } from "node:crypto";
import type { HostConfig } from "../../config/hostsFile.ts";
import { HostKeyMismatchError, HostKeyUnknownError, SshError } from "./errors.ts";
import type { KnownHostsStore } from "./knownHosts.ts";

/** `SHA256:<base64 without padding>` of a key blob, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** ssh-keygen prints no padding; the hosts file schema tolerates one trailing "=". */
export const normalizeFingerprint = (fp: string): string => fp.trim().replace(/=+$/, "");

/** The key type a blob declares in its first field (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.toString("latin1", 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

export interface PublicKey {
  type: string;
  blob: Buffer;
}

/** Decode `<type> <base64>`; undefined unless the base64 is valid and declares that same type. */
export function decodePublicKey(type: string, base64: string): PublicKey | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, "base64");
  return keyTypeOf(blob) === type ? { type, blob } : undefined;
}

export type HostKeyPin = { kind: "fingerprint"; fingerprint: string } | ({ kind: "key" } & PublicKey);

/** A hosts file `host_key`: a fingerprint, or a known_hosts line with or without the host field. */
export function parsePin(text: string): HostKeyPin {
  const s = text.trim();
  if (s.startsWith("SHA256:")) return { kind: "fingerprint", fingerprint: normalizeFingerprint(s) };
  const fields = s.split(/\s+/);
  // [hosts] <type> <base64> [comment]: the type is the first field that looks like one.
  for (let i = 0; i < Math.min(fields.length - 1, 2); i++) {
    const key = decodePublicKey(fields[i] as string, fields[i + 1] as string);
    if (key) return { kind: "key", ...key };
  }
  throw new Error(`host_key is neither a SHA256 fingerprint nor a known_hosts line: "${s.slice(0, 40)}..."`);
}

export const pinFingerprint = (pin: HostKeyPin): string =>
  pin.kind === "fingerprint" ? pin.fingerprint : fingerprintOf(pin.blob);

export function pinMatches(pin: HostKeyPin, blob: Buffer): boolean {
  return pin.kind === "fingerprint"
    ? pin.fingerprint === fingerprintOf(blob)
    : keyTypeOf(blob) === pin.type && pin.blob.equals(blob);
}

/** ssh2's default host key algorithms (ssh2 1.x, Node with ed25519), in preference order. */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/**
 * A server with several host keys presents the one we prefer, so prefer the types we have pinned
 * (as OpenSSH does); otherwise a correct RSA pin would "mismatch" the server's ed25519 key.
 */
export function hostKeyAlgorithms(pinnedTypes: readonly string[]): string[] {
  const first = pinnedTypes.flatMap((t) =>
    t === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [t],
  );
  const known = first.filter((a) => DEFAULT_HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...known, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; how: "pinned" | "known_hosts" | "first-use" }
  | { ok: false; fingerprint: string; error: SshError };

/** The key a host presented, as the verdicts and their messages name it. */
interface Presented {
  blob: Buffer;
  type: string;
  fingerprint: string;
}

/**
 * The policy: a `host_key` in the hosts file wins; else a pin in the server-side known_hosts store;
 * else trust on first use (and store the pin) only when the host allows it.
 */
export async function verifyHostKey(
  host: HostConfig,
  blob: Buffer,
  store: KnownHostsStore | undefined,
): Promise<HostKeyVerdict> {
  const key: Presented = {
    blob,
    type: keyTypeOf(blob) ?? "unknown key type",
    fingerprint: fingerprintOf(blob),
  };
  if (host.host_key) return checkHostsFilePin(host, host.host_key, key);
  const stored = store ? await store.lookup(host.address, host.port) : [];
  if (store && stored.length > 0) return checkStoredPins(host, key, stored, store.file);
  if (!host.trust_on_first_use) {
    const error = new HostKeyUnknownError(host.name, whereOf(host), describe(key));
    return { ok: false, fingerprint: key.fingerprint, error };
  }
  if (!store) {
    const error = new SshError(
      host.name,
      `${host.name} uses trust_on_first_use but no data dir was given to keep the pin`,
    );
    return { ok: false, fingerprint: key.fingerprint, error };
  }
  // Another connection may have pinned a different key meanwhile: the store decides who was first.
  const winner = await store.addIfAbsent(
    host.address,
    host.port,
    { type: key.type, blob },
    `stackpilot:${host.name}`,
  );
  if (winner.blob.equals(blob)) return { ok: true, fingerprint: key.fingerprint, how: "first-use" };
  return mismatch(host, key, describe(winner), `pinned on first use in ${store.file}`);
}

function checkHostsFilePin(host: HostConfig, hostKey: string, key: Presented): HostKeyVerdict {
  const pin = parsePin(hostKey);
  if (pinMatches(pin, key.blob)) return { ok: true, fingerprint: key.fingerprint, how: "pinned" };
  const expected = pin.kind === "key" ? `${pinFingerprint(pin)} (${pin.type})` : pin.fingerprint;
  return mismatch(host, key, expected, "host_key in the hosts file");
}

/** Any one of the pins stored for the host may match. */
function checkStoredPins(
  host: HostConfig,
  key: Presented,
  stored: PublicKey[],
  file: string,
): HostKeyVerdict {
  if (stored.some((k) => k.type === key.type && k.blob.equals(key.blob)))
    return { ok: true, fingerprint: key.fingerprint, how: "known_hosts" };
  const expected = stored.map(describe).join(" or ");
  return mismatch(host, key, expected, `pinned on first use in ${file}`);
}

function mismatch(host: HostConfig, key: Presented, expected: string, pinnedIn: string): HostKeyVerdict {
  return {
    ok: false,
    fingerprint: key.fingerprint,
    error: new HostKeyMismatchError(host.name, whereOf(host), expected, describe(key), pinnedIn),
  };
}

/** `<fingerprint> (<type>)`, as the messages name a key. */
const describe = (key: PublicKey): string => `${fingerprintOf(key.blob)} (${key.type})`;

const whereOf = (host: HostConfig): string => `${host.address}:${host.port}`;
