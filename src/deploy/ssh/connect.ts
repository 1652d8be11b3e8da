/**
 * Open one authenticated SSH connection and turn every way it can fail into a typed error that
 * names the host. Resolves only on 'ready'; every failure before that rejects (readyTimeout bounds
 * the whole TCP connect + handshake + auth, so a silent or garbage-talking host cannot hang us).
 */
import type { Duplex } from "node:stream";
import { Client, type ConnectConfig } from "ssh2";
import type { HostConfig } from "../../config/hostsFile.ts";
import { AuthError, SshError, UnreachableError } from "./errors.ts";
import type { HostKeyVerdict } from "./hostKeys.ts";
import type { ClientAuth } from "./keys.ts";

export interface ConnectParams {
  host: HostConfig;
  auth: ClientAuth;
  /** Decides on the presented key blob; a rejection aborts before authentication. */
  verify(blob: Buffer): Promise<HostKeyVerdict>;
  /** Host key algorithms in preference order. */
  hostKeyAlgorithms: string[];
  /** A stream to the host's sshd (a jump host's forward) instead of a TCP connect. */
  sock?: Duplex;
  /** Jump host name, for messages. */
  via?: string;
  readyTimeoutMs: number;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
}

export interface Connected {
  client: Client;
  fingerprint: string;
  hostKey: "pinned" | "known_hosts" | "first-use";
  connectMs: number;
}

type ErrorWithLevel = Error & { level?: string; code?: string | number };

const UNREACHABLE_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connect timed out",
  ENOTFOUND: "DNS lookup failed",
  EAI_AGAIN: "DNS lookup failed (temporary)",
};

/** The host-key check's verdict, once ssh2 asked for it: 'ready' and 'error' need it. */
interface HostKeyCheck {
  verdict?: HostKeyVerdict;
}

export function connect(p: ConnectParams): Promise<Connected> {
  const { host } = p;
  const started = performance.now();
  const client = new Client();
  const check: HostKeyCheck = {};
  return new Promise<Connected>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      p.sock?.destroy();
      reject(err);
    };
    client.on("ready", () => {
      if (settled) return;
      const { verdict } = check;
      if (!verdict?.ok)
        return fail(new SshError(host.name, `${host.name}: connected without a verified host key`));
      settled = true;
      resolve({
        client,
        fingerprint: verdict.fingerprint,
        hostKey: verdict.how,
        connectMs: performance.now() - started,
      });
    });
    // Stays attached for the connection's life: ssh2 emits late errors (resets, keepalive timeouts)
    // and an 'error' event without a listener would crash the process.
    client.on("error", (err: ErrorWithLevel) => fail(classify(p, err, check.verdict)));
    client.on("close", () => fail(closedDuringHandshake(p)));
    dial(client, p, check, fail);
  });
}

/** Start the TCP connect (or the handshake over the jump host's stream); what follows are events. */
function dial(client: Client, p: ConnectParams, check: HostKeyCheck, fail: (err: Error) => void): void {
  try {
    client.connect(clientConfig(p, check));
    // Commands are small request/response exchanges; Nagle's algorithm would add ~40-90 ms to each.
    client.setNoDelay(true);
  } catch (err) {
    fail(
      new SshError(p.host.name, `cannot connect to ${p.host.name}: ${(err as Error).message}`, {
        cause: err,
      }),
    );
  }
}

function clientConfig(p: ConnectParams, check: HostKeyCheck): ConnectConfig {
  const { host } = p;
  return {
    host: host.address,
    port: host.port,
    username: host.user,
    ...("privateKey" in p.auth ? { privateKey: p.auth.privateKey } : { agent: p.auth.agent }),
    // Straight to the one method we have: ssh2 would first try "none", a round trip that
    // only tells us what we know.
    authHandler: ["privateKey" in p.auth ? "publickey" : "agent"],
    ...(p.sock ? { sock: p.sock } : {}),
    readyTimeout: p.readyTimeoutMs,
    keepaliveInterval: p.keepaliveIntervalMs,
    keepaliveCountMax: p.keepaliveCountMax,
    algorithms: { serverHostKey: p.hostKeyAlgorithms as never },
    hostVerifier: hostVerifier(p, check),
  };
}

/** Ask p.verify and record its verdict; a failing check becomes a rejecting verdict, never a rejection. */
function hostVerifier(p: ConnectParams, check: HostKeyCheck) {
  return (blob: Buffer, accept: (ok: boolean) => void): void => {
    p.verify(blob).then(
      (v) => {
        check.verdict = v;
        accept(v.ok);
      },
      (err: Error) => {
        check.verdict = {
          ok: false,
          fingerprint: "",
          error: new SshError(p.host.name, err.message, { cause: err }),
        };
        accept(false);
      },
    );
  };
}

function closedDuringHandshake(p: ConnectParams): SshError {
  const { host } = p;
  const where = `${host.address}:${host.port}${p.via ? ` via ${p.via}` : ""}`;
  return new SshError(host.name, `${host.name} (${where}) closed the connection during the SSH handshake`);
}

function classify(p: ConnectParams, err: ErrorWithLevel, verdict: HostKeyVerdict | undefined): SshError {
  const { host } = p;
  if (verdict && !verdict.ok) return verdict.error;
  const via = p.via ? ` (via ${p.via})` : "";
  if (err.level === "client-authentication")
    return new AuthError(host.name, `${host.name} refused the key for user ${host.user}${via}`, {
      cause: err,
    });
  if (err.level === "client-timeout")
    return new UnreachableError(
      host.name,
      host.address,
      host.port,
      /keepalive/i.test(err.message)
        ? `no answer to keepalives${via}`
        : `no SSH handshake within ${p.readyTimeoutMs} ms${via}`,
      { cause: err },
    );
  const code = typeof err.code === "string" ? err.code : undefined;
  if (err.level === "client-dns" || (code && code in UNREACHABLE_CODES))
    return new UnreachableError(
      host.name,
      host.address,
      host.port,
      `${(code && UNREACHABLE_CODES[code]) ?? "DNS lookup failed"}${code ? ` (${code})` : ""}${via}`,
      { cause: err },
    );
  return new SshError(
    host.name,
    `SSH with ${host.name} (${host.address}:${host.port}${via}) failed: ${err.message}`,
    { cause: err },
  );
}
