/**
 * SSH connections to the hosts of a hosts file: one connection per host, opened on first use and
 * shared by every command (each command is its own exec channel on it), with bounded channels per
 * host (sshd's MaxSessions defaults to 10) and overall. A connection that died between commands is
 * replaced once, transparently: the command had not started, so retrying it is safe.
 */
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type { Client } from "ssh2";
import type { HostConfig } from "../../config/hostsFile.ts";
import { Limiter } from "../../util/limiter.ts";
import { connect } from "./connect.ts";
import { SshError, UnreachableError } from "./errors.ts";
import {
  ChannelOpenTimeout,
  openExec,
  type RemoteExecOptions,
  type RemoteResult,
  runOnChannel,
} from "./exec.ts";
import { hostKeyAlgorithms, keyTypeOf, parsePin, verifyHostKey } from "./hostKeys.ts";
import { loadAuth } from "./keys.ts";
import { KnownHostsStore } from "./knownHosts.ts";

export type { RemoteExecOptions, RemoteResult } from "./exec.ts";

/** See SshPoolOptions.commandTimeoutMs. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30 * 60_000;

export interface SshPoolOptions {
  /** App data dir; trust-on-first-use pins are kept in `<dataDir>/known_hosts`. */
  dataDir?: string;
  /** Exec channels in flight per host (default 4). */
  perHost?: number;
  /** Exec channels in flight over all hosts (default 16). */
  total?: number;
  /** TCP connect + handshake + auth must finish within this (default 10 s). */
  readyTimeoutMs?: number;
  /** SSH keepalive interval (default 5 s); the connection counts as dead after keepaliveCountMax misses (default 3). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** After a timeout: SIGTERM, then SIGKILL after this long (default 2 s). */
  killGraceMs?: number;
  /** Output kept per stream and command unless the call says otherwise (default 1 MiB). */
  maxOutputBytes?: number;
  /**
   * Limit of a command whose call names none (default 30 minutes: above a slow image build or
   * pull, so only a command that hangs meets it; callers that know better pass their own).
   */
  commandTimeoutMs?: number;
  /** Where `key: {env}` is looked up (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ConnectionInfo {
  host: string;
  /** SHA256 fingerprint of the host key the host presented (and we accepted). */
  fingerprint: string;
  /** How the key was accepted: hosts file pin, server-side known_hosts, or pinned just now. */
  hostKey: "pinned" | "known_hosts" | "first-use";
  /** TCP connect + handshake + auth. */
  connectMs: number;
  via?: string;
}

export interface HostStats {
  /** Connections established so far (1 unless it had to reconnect). */
  connects: number;
  connected: boolean;
  /** Commands running (or opening their channel) on this host. */
  inFlight: number;
  /** Commands waiting for a per-host or global slot. */
  queued: number;
}

interface Conn {
  client: Client;
  info: ConnectionInfo;
  /** Set once the connection is gone (or going), with the reason. */
  lost?: string;
  closed?: boolean;
}

export class SshPool {
  readonly #hosts: Map<string, HostConfig>;
  /** Per host: the connection being opened or open. */
  readonly #conns = new Map<string, Promise<Conn>>();
  /** Per host: the connection that #conns' promise resolved to, once open. */
  readonly #open = new Map<string, Conn>();
  readonly #limits = new Map<string, Limiter>();
  readonly #total: Limiter;
  readonly #connects = new Map<string, number>();
  /** Commands holding both a host and a global slot: channels open or opening. */
  readonly #running = new Map<string, number>();
  readonly #store: KnownHostsStore | undefined;
  readonly #opts: Required<Omit<SshPoolOptions, "dataDir" | "env">> & { env: NodeJS.ProcessEnv };
  #closed = false;

  constructor(hosts: readonly HostConfig[], opts: SshPoolOptions = {}) {
    this.#hosts = new Map(hosts.map((h) => [h.name, h]));
    this.#opts = {
      perHost: opts.perHost ?? 4,
      total: opts.total ?? 16,
      readyTimeoutMs: opts.readyTimeoutMs ?? 10_000,
      keepaliveIntervalMs: opts.keepaliveIntervalMs ?? 5_000,
      keepaliveCountMax: opts.keepaliveCountMax ?? 3,
      killGraceMs: opts.killGraceMs ?? 2_000,
      maxOutputBytes: opts.maxOutputBytes ?? 1024 * 1024,
      commandTimeoutMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      env: opts.env ?? process.env,
    };
    this.#total = new Limiter(this.#opts.total);
    this.#store = opts.dataDir ? new KnownHostsStore(join(opts.dataDir, "known_hosts")) : undefined;
  }

  /** The trust-on-first-use store, when a data dir was given. */
  get knownHostsPath(): string | undefined {
    return this.#store?.file;
  }

  /** Connect (or reuse the connection) without running anything; for checks and warm-up. */
  async connect(host: string): Promise<ConnectionInfo> {
    this.#host(host);
    return (await this.#connection(host)).info;
  }

  /** Run a shell command line (already quoted by the caller) on a host. */
  async exec(host: string, commandLine: string, opts: RemoteExecOptions = {}): Promise<RemoteResult> {
    this.#host(host);
    const releaseHost = await this.#limiter(host).acquire();
    const releaseTotal = await this.#total.acquire();
    this.#running.set(host, (this.#running.get(host) ?? 0) + 1);
    try {
      for (let attempt = 1; ; attempt++) {
        const conn = await this.#connection(host);
        let channel: Awaited<ReturnType<typeof openExec>>;
        try {
          channel = await openExec(conn.client, commandLine, this.#opts.readyTimeoutMs);
        } catch (err) {
          const msg = (err as Error).message;
          // Only a connection known to be dead is dropped: ending a live one would kill its other commands.
          const gone = conn.lost !== undefined || /not connected|no response from server/i.test(msg);
          if (gone) this.#forget(host, conn, msg);
          if (gone && attempt === 1 && !this.#closed) continue;
          if (err instanceof ChannelOpenTimeout) {
            const h = this.#host(host);
            throw new UnreachableError(host, h.address, h.port, msg, { cause: err });
          }
          throw new SshError(host, `cannot start a command on ${host}: ${msg}`, { cause: err });
        }
        return await runOnChannel(
          channel,
          {
            host,
            lostReason: () => conn.lost,
            killGraceMs: this.#opts.killGraceMs,
            defaultMaxOutputBytes: this.#opts.maxOutputBytes,
            defaultTimeoutMs: this.#opts.commandTimeoutMs,
          },
          opts,
        );
      }
    } finally {
      this.#running.set(host, (this.#running.get(host) ?? 1) - 1);
      releaseTotal();
      releaseHost();
    }
  }

  stats(host: string): HostStats {
    const limiter = this.#limits.get(host);
    const running = this.#running.get(host) ?? 0;
    return {
      connects: this.#connects.get(host) ?? 0,
      connected: this.#conns.has(host),
      inFlight: running,
      // Waiting for a host slot, or holding one while waiting for a global slot.
      queued: (limiter?.waiting ?? 0) + (limiter?.active ?? 0) - running,
    };
  }

  /** Close every connection; commands still running fail with ConnectionLostError. */
  async close(): Promise<void> {
    this.#closed = true;
    const conns = [...this.#conns.values()];
    this.#conns.clear();
    this.#open.clear();
    await Promise.all(conns.map((p) => p.then(endClient, () => undefined)));
  }

  #host(name: string): HostConfig {
    const host = this.#hosts.get(name);
    if (!host) throw new Error(`unknown host "${name}"`);
    return host;
  }

  #limiter(name: string): Limiter {
    let l = this.#limits.get(name);
    if (!l) {
      l = new Limiter(this.#opts.perHost);
      this.#limits.set(name, l);
    }
    return l;
  }

  #connection(name: string, chain: readonly string[] = []): Promise<Conn> {
    if (this.#closed) return Promise.reject(new Error("the SSH pool is closed"));
    const cached = this.#conns.get(name);
    if (cached) return cached;
    const opening = this.#dial(name, chain);
    this.#conns.set(name, opening);
    opening.then(
      (conn) => {
        if (this.#conns.get(name) === opening) this.#open.set(name, conn);
      },
      () => {
        if (this.#conns.get(name) === opening) this.#conns.delete(name);
      },
    );
    return opening;
  }

  /**
   * Drop a connection known to be dead. Synchronous on purpose: by the time an old connection's
   * 'close' arrives, #conns may hold the next attempt, and waiting on that one here would leave its
   * failure (the host is still down) rejected with nobody listening.
   */
  #forget(name: string, conn: Conn, reason: string): void {
    conn.lost ??= reason;
    if (this.#open.get(name) === conn) {
      this.#open.delete(name);
      this.#conns.delete(name);
    }
    conn.client.end();
  }

  async #dial(name: string, chain: readonly string[]): Promise<Conn> {
    const host = this.#host(name);
    const sock = host.jump ? await this.#forward(host, chain) : undefined;
    const auth = await loadAuth(host, this.#opts.env).catch((err) => {
      sock?.destroy();
      throw err;
    });
    const pinnedTypes = await this.#pinnedTypes(host);
    const c = await connect({
      host,
      auth,
      verify: (blob) => verifyHostKey(host, blob, this.#store),
      hostKeyAlgorithms: hostKeyAlgorithms(pinnedTypes),
      ...(sock ? { sock } : {}),
      ...(host.jump ? { via: host.jump } : {}),
      readyTimeoutMs: this.#opts.readyTimeoutMs,
      keepaliveIntervalMs: this.#opts.keepaliveIntervalMs,
      keepaliveCountMax: this.#opts.keepaliveCountMax,
    });
    this.#connects.set(name, (this.#connects.get(name) ?? 0) + 1);
    const conn: Conn = {
      client: c.client,
      info: {
        host: name,
        fingerprint: c.fingerprint,
        hostKey: c.hostKey,
        connectMs: Math.round(c.connectMs),
        ...(host.jump ? { via: host.jump } : {}),
      },
    };
    c.client.on("error", (err: Error) => {
      conn.lost ??= err.message;
    });
    c.client.on("close", () => {
      conn.closed = true;
      this.#forget(name, conn, "the connection closed");
    });
    if (this.#closed) void endClient(conn);
    return conn;
  }

  /** Pinned key types, so the server is asked for the key we can check (see hostKeyAlgorithms). */
  async #pinnedTypes(host: HostConfig): Promise<string[]> {
    if (host.host_key) {
      const pin = parsePin(host.host_key);
      return pin.kind === "key" ? [pin.type] : [];
    }
    const stored = (await this.#store?.lookup(host.address, host.port)) ?? [];
    return stored.map((k) => keyTypeOf(k.blob) ?? k.type);
  }

  /** A TCP stream to the host's sshd through its jump host's connection (direct-tcpip). */
  async #forward(host: HostConfig, chain: readonly string[]): Promise<Duplex> {
    const jumpName = host.jump as string;
    const unreachable = (reason: string, cause: unknown) =>
      new UnreachableError(host.name, host.address, host.port, reason, { cause });
    if (jumpName === host.name || chain.includes(jumpName))
      throw new SshError(host.name, `jump host loop: ${[...chain, host.name, jumpName].join(" -> ")}`);
    let jump: Conn;
    try {
      jump = await this.#connection(jumpName, [...chain, host.name]);
    } catch (err) {
      throw unreachable(`jump host ${jumpName} failed: ${(err as Error).message}`, err);
    }
    return new Promise<Duplex>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(
          unreachable(`${jumpName} did not open a forward within ${this.#opts.readyTimeoutMs} ms`, undefined),
        );
      }, this.#opts.readyTimeoutMs);
      try {
        jump.client.forwardOut("127.0.0.1", 0, host.address, host.port, (err, stream) => {
          clearTimeout(timer);
          if (timedOut) stream?.destroy();
          else if (err) reject(unreachable(`via ${jumpName}: ${err.message}`, err));
          else resolve(stream);
        });
      } catch (err) {
        clearTimeout(timer);
        reject(unreachable(`via ${jumpName}: ${(err as Error).message}`, err));
      }
    });
  }
}

/** End a connection politely; do not wait more than 2 s for the host to agree. */
function endClient(conn: Conn): Promise<void> {
  conn.lost ??= "the pool was closed";
  if (conn.closed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      conn.client.destroy();
      resolve();
    }, 2000);
    conn.client.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
    conn.client.end();
  });
}
