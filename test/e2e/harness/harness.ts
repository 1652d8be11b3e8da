// Real test hosts for Stackpilot's end-to-end tests.
//
// Thin wrapper around harness.sh: every test host is a network namespace on
// this machine with its own sshd, unix user and Docker engine; a Docker
// registry is reachable from all engines. See harness.sh for how, and
// install.sh for what must be installed first. Needs root.

import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./harness.sh", import.meta.url));

export interface TestHost {
  /** "h1", "h2", ... */
  name: string;
  /** IPv4 address of the host inside the harness subnet (its own netns). */
  address: string;
  /** sshd port (22). */
  port: number;
  /** Unix user to log in as; it owns deployRoot and may use the engine. */
  user: string;
  /** Private ed25519 client key (no passphrase) accepted by every host. */
  keyPath: string;
  /** Host public key as in known_hosts, without the host name: "ssh-ed25519 AAAA...". */
  hostKeyLine: string;
  /** "SHA256:..." fingerprint of the host key, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  /** "unix:///.../docker.sock": use as `docker -H` / DOCKER_HOST to inspect this host's engine. */
  dockerHost: string;
  /** Plain filesystem path of the engine socket. */
  dockerSocket: string;
  /** Writable by `user`; where deploys should go. */
  deployRoot: string;
  /** The user's home directory. */
  home: string;
  /** Network namespace the host lives in. */
  netns?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal or the timeout. */
  code: number;
}

export interface ExecOptions {
  /** Working directory (default: the host's deployRoot). */
  cwd?: string;
  /** Written to the command's stdin. */
  input?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * How a host goes down:
 * - "ssh": its sshd and every open SSH session are killed (connection refused); the engine keeps running.
 * - "network": its link is cut (connects time out, open connections hang).
 */
export type StopMode = "ssh" | "network";

export interface Harness {
  /** Temp dir holding all harness state; removed by stop(). */
  dir: string;
  hosts: TestHost[];
  registry: {
    /** host:port of the registry, reachable from every host's engine (plain HTTP, configured insecure). */
    address: string;
    /** The test image already pushed to the registry: `${address}/stackpilot-test/busybox:1`. */
    image: string;
  };
  /** A second registry (empty) that wants a login; the password is in a root-only file. */
  authRegistry: { address: string; username: string; passwordFile: string };
  /** Offline busybox image (httpd, sleep, sh, wget, ...) present in every engine. */
  image: string;
  /** known_hosts file listing every host by address. */
  knownHostsPath: string;
  /** e.g. "10.213.7.0/24". */
  subnet: string;
  storageDriver: string;
  /** Look a host up by name; throws if unknown. */
  host(name: string): TestHost;
  stopHost(name: string, mode?: StopMode): Promise<void>;
  /** Undo stopHost (either mode); resolves once sshd answers again. The host key is unchanged. */
  startHost(name: string): Promise<void>;
  /** Run argv as the host's user inside the host (its netns, DOCKER_HOST set), without going through SSH. */
  exec(host: string | TestHost, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Run the docker CLI as root against the host's engine (`docker -H <dockerHost> ...`). */
  docker(host: string | TestHost, argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Pids of every live process the harness started (daemons, shims, containers, ssh sessions). */
  pids(): Promise<number[]>;
  /** Tear everything down (idempotent). */
  stop(): Promise<void>;
}

export interface HarnessOptions {
  hosts: number;
  /** Parent of the temp dir (default os.tmpdir(), or /tmp if that path is too long for unix sockets). */
  baseDir?: string;
  /** dockerd storage driver (default overlay2; vfs also works, slower). */
  storageDriver?: string;
  /** Startup timeout (default 180 s). */
  timeoutMs?: number;
}

interface HarnessJson {
  id: string;
  dir: string;
  subnet: string;
  storageDriver: string;
  knownHostsPath: string;
  image: string;
  registry: { address: string; image: string };
  authRegistry: { address: string; username: string; passwordFile: string };
  hosts: TestHost[];
}

/** Run a command, never rejecting on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            stderr += `\n[harness] timed out after ${opts.timeoutMs} ms`;
            child.kill("SIGKILL");
          }, opts.timeoutMs)
        : undefined;
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout, stderr, code: code ?? -1 });
    });
    child.stdin.on("error", () => {
      /* the command may exit without reading its input */
    });
    child.stdin.end(opts.input ?? "");
  });
}

async function script(args: string[], timeoutMs = 120_000): Promise<ExecResult> {
  const res = await run("bash", [SCRIPT, ...args], { timeoutMs });
  if (res.code !== 0) {
    throw new Error(`harness.sh ${args[0]} failed (exit ${res.code}):\n${res.stderr.slice(-4000)}`);
  }
  return res;
}

// Harness dirs not yet stopped; torn down synchronously if the process exits
// without calling stop() (e.g. a crashed test file), so no daemons outlive it.
const live = new Set<string>();
let exitHookInstalled = false;
function trackForExit(dir: string): void {
  live.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const d of live) spawnSync("bash", [SCRIPT, "down", d], { stdio: "ignore", timeout: 60_000 });
  });
}

/** argv for the system ssh client logging into host with the harness key and strict host key checking. */
/**
 * A compose file with one service that sleeps, its image given by `source` (lines under the service,
 * e.g. `image: x` or a `build:` block). `init` and a short grace: busybox as pid 1 ignores SIGTERM.
 */
export function sleeperCompose(service: string, source: readonly string[]): string {
  return [
    "services:",
    `  ${service}:`,
    ...source.map((l) => `    ${l}`),
    "    init: true",
    "    stop_grace_period: 1s",
    '    command: ["sleep", "3600"]',
    "    network_mode: none",
    "",
  ].join("\n");
}

/** A hosts-file entry for a test host (JSON is YAML): how to reach it, its pinned key, its root. */
export function hostEntry(t: TestHost, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: t.name,
    address: t.address,
    port: t.port,
    user: t.user,
    key: { file: t.keyPath },
    host_key: t.hostKeyFingerprint,
    root: t.deployRoot,
    ...extra,
  };
}

export function sshArgs(host: TestHost, knownHostsPath: string): string[] {
  return [
    "-i",
    host.keyPath,
    "-p",
    String(host.port),
    "-o",
    `UserKnownHostsFile=${knownHostsPath}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "LogLevel=ERROR",
    `${host.user}@${host.address}`,
  ];
}

export async function startHarness(opts: HarnessOptions): Promise<Harness> {
  if (process.getuid?.() !== 0) {
    throw new Error("the e2e harness needs root (network namespaces, users, dockerd)");
  }
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1) throw new Error("hosts must be a positive integer");

  // containerd's sockets live below the dir; unix socket paths are short.
  let base = opts.baseDir ?? tmpdir();
  if (!opts.baseDir && base.length > 30) base = "/tmp";
  const dir = await mkdtemp(path.join(base, "sph-"));
  await chmod(dir, 0o755); // host users must traverse it to their homes
  trackForExit(dir);

  const env = { ...process.env };
  if (opts.storageDriver) env.STACKPILOT_E2E_STORAGE_DRIVER = opts.storageDriver;
  const up = await run("bash", [SCRIPT, "up", dir, String(opts.hosts)], {
    timeoutMs: opts.timeoutMs ?? 180_000,
    env,
  });
  if (up.code !== 0) {
    // harness.sh tears down by itself on failure; this covers a timeout kill.
    await run("bash", [SCRIPT, "down", dir], { timeoutMs: 120_000 });
    live.delete(dir);
    throw new Error(`starting the e2e harness failed (exit ${up.code}):\n${up.stderr.slice(-4000)}`);
  }
  const info = JSON.parse(await readFile(path.join(dir, "harness.json"), "utf8")) as HarnessJson;

  const byName = (h: string | TestHost): TestHost => {
    if (typeof h !== "string") return h;
    const found = info.hosts.find((x) => x.name === h);
    if (!found) throw new Error(`no test host named ${h}`);
    return found;
  };

  let stopped = false;
  const harness: Harness = {
    dir,
    hosts: info.hosts,
    registry: info.registry,
    authRegistry: info.authRegistry,
    image: info.image,
    knownHostsPath: info.knownHostsPath,
    subnet: info.subnet,
    storageDriver: info.storageDriver,
    host: byName,
    async stopHost(name, mode = "ssh") {
      await script(["stop-host", dir, byName(name).name, mode]);
    },
    async startHost(name) {
      await script(["start-host", dir, byName(name).name]);
    },
    exec(h, argv, o = {}) {
      const host = byName(h);
      const vars = {
        HOME: host.home,
        USER: host.user,
        LOGNAME: host.user,
        SHELL: "/bin/bash",
        PATH: "/usr/local/bin:/usr/bin:/bin",
        DOCKER_HOST: host.dockerHost,
        ...o.env,
      };
      const args = [
        `--net=/run/netns/${host.netns}`,
        `--uts=${path.join(dir, host.name, "uts")}`,
        "runuser",
        "-u",
        host.user,
        "--",
        "env",
        "-i",
        "-C",
        o.cwd ?? host.deployRoot,
        ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ];
      return run("nsenter", args, { input: o.input, timeoutMs: o.timeoutMs ?? 120_000 });
    },
    docker(h, argv, o = {}) {
      const host = byName(h);
      return run("docker", ["-H", host.dockerHost, ...argv], {
        input: o.input,
        timeoutMs: o.timeoutMs ?? 120_000,
        cwd: o.cwd,
        env: { ...process.env, ...o.env },
      });
    },
    async pids() {
      if (stopped) return [];
      const res = await script(["pids", dir]);
      return res.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map(Number);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await script(["down", dir]);
      live.delete(dir);
    },
  };
  return harness;
}
