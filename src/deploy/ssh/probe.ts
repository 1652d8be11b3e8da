/**
 * Is a host ready to deploy to? Connect (verifying its key), then ask for the docker and compose
 * versions and the free space where stacks go. Never throws: every failure lands in the report.
 */
import type { HostConfig } from "../../config/hostsFile.ts";
import { commandLine } from "../shell.ts";
import { AuthError, HostKeyMismatchError, HostKeyUnknownError, SshError } from "./errors.ts";
import type { ConnectionInfo, SshPool } from "./pool.ts";

export interface HostCheck {
  host: string;
  /** address:port */
  address: string;
  via?: string;
  ok: boolean;
  /** An SSH server answered (a refused key or host key still counts; silence or garbage does not). */
  reachable: boolean;
  connectMs?: number;
  hostKey:
    | { status: "ok"; fingerprint: string; how: ConnectionInfo["hostKey"] }
    | { status: "mismatch"; expected: string; presented: string }
    | { status: "unknown"; presented: string }
    | { status: "unchecked" };
  docker?: { version: string } | { error: string };
  compose?: { command: "docker compose" | "docker-compose"; version: string } | { error: string };
  disk?: { path: string; availableKb: number; totalKb: number; usedPercent: number } | { error: string };
  /** The connection error, when there is no connection. */
  error?: string;
}

const PROBE_TIMEOUT_MS = 30_000;

/** Walks up from root to the nearest existing directory, prints it, then `df -Pk` of it. */
const DISK_SCRIPT = 'p=$1; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; echo "$p"; df -Pk "$p"';

export async function checkHost(pool: SshPool, host: HostConfig): Promise<HostCheck> {
  const base = {
    host: host.name,
    address: `${host.address}:${host.port}`,
    ...(host.jump ? { via: host.jump } : {}),
  };
  let info: ConnectionInfo;
  try {
    info = await pool.connect(host.name);
  } catch (err) {
    return {
      ...base,
      ok: false,
      reachable: answeredSsh(err),
      hostKey: hostKeyFailure(err),
      error: (err as Error).message,
    };
  }
  const [docker, compose, disk] = await Promise.all([
    dockerVersion(pool, host.name),
    composeVersion(pool, host),
    diskFree(pool, host),
  ]);
  return {
    ...base,
    ok: !("error" in docker) && !("error" in compose) && !("error" in disk),
    reachable: true,
    connectMs: info.connectMs,
    hostKey: { status: "ok", fingerprint: info.fingerprint, how: info.hostKey },
    docker,
    compose,
    disk,
  };
}

/** Errors only an SSH server that completed its key exchange can cause. */
function answeredSsh(err: unknown): boolean {
  return (
    err instanceof AuthError || err instanceof HostKeyMismatchError || err instanceof HostKeyUnknownError
  );
}

function hostKeyFailure(err: unknown): HostCheck["hostKey"] {
  if (err instanceof HostKeyMismatchError)
    return { status: "mismatch", expected: err.expected, presented: err.presented };
  if (err instanceof HostKeyUnknownError) return { status: "unknown", presented: err.presented };
  return { status: "unchecked" };
}

async function run(pool: SshPool, host: string, argv: string[]) {
  try {
    const r = await pool.exec(host, commandLine(argv), {
      timeoutMs: PROBE_TIMEOUT_MS,
      maxOutputBytes: 64 * 1024,
    });
    return { ok: r.code === 0, out: r.stdout.trim(), err: r.stderr.trim() || `exit ${r.code ?? r.signal}` };
  } catch (err) {
    return { ok: false, out: "", err: err instanceof SshError ? err.message : String(err) };
  }
}

const lastLine = (s: string) => s.split("\n").pop() ?? "";

async function dockerVersion(pool: SshPool, host: string): Promise<NonNullable<HostCheck["docker"]>> {
  const r = await run(pool, host, ["docker", "version", "--format", "{{.Server.Version}}"]);
  return r.ok && r.out
    ? { version: lastLine(r.out) }
    : { error: lastLine(r.err || r.out) || "no server version" };
}

async function composeVersion(pool: SshPool, host: HostConfig): Promise<NonNullable<HostCheck["compose"]>> {
  const candidates =
    host.compose === "auto" ? (["docker compose", "docker-compose"] as const) : ([host.compose] as const);
  const errors: string[] = [];
  for (const command of candidates) {
    const r = await run(pool, host.name, [...command.split(" "), "version", "--short"]);
    if (r.ok && r.out) return { command, version: lastLine(r.out).replace(/^v/, "") };
    errors.push(`${command}: ${lastLine(r.err || r.out)}`);
  }
  return { error: errors.join("; ") };
}

async function diskFree(pool: SshPool, host: HostConfig): Promise<NonNullable<HostCheck["disk"]>> {
  const r = await run(pool, host.name, ["sh", "-c", DISK_SCRIPT, "sh", host.root]);
  if (!r.ok) return { error: lastLine(r.err) };
  const lines = r.out.split("\n");
  // df -P: "Filesystem 1024-blocks Used Available Capacity Mounted on"; names may hold spaces.
  const m = /^(.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.*)$/.exec(lines[lines.length - 1] ?? "");
  if (!m) return { error: `cannot parse df output: ${lastLine(r.out)}` };
  return {
    path: lines[0] ?? host.root,
    totalKb: Number(m[2]),
    availableKb: Number(m[4]),
    usedPercent: Number(m[5]),
  };
}
