/**
 * A throwaway PostgreSQL server for tests: initdb in a temp dir, listening only on a unix socket
 * there, durability off for speed, stopped by pid. Installs the server package when it is missing
 * (install-postgres.sh) and runs as the `postgres` user when we are root (initdb refuses root).
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startTime, statFields } from "./processes.ts";

const PREFERRED_MAJOR = "15";

export interface PostgresServer {
  /** The postmaster's pid (a restart changes it). */
  readonly pid: number;
  /** Connection URL of a database on this server. */
  url(database: string): string;
  /** A new empty database; returns its URL. */
  createDatabase(): Promise<string>;
  /** Stop (fast: connections cut) and start again on the same data, as an outage would. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), "sp-pg-"));
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = asPostgres
      ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]]
      : [join(bin, tool), args];
    execFileSync(cmd as string, argv as string[], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
  };
  const data = join(dir, "data");
  try {
    run("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"]);
    const serverOptions = [
      `-k ${dir}`,
      "-c listen_addresses=''",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=300",
    ].join(" ");
    run("pg_ctl", [
      "-D",
      data,
      "-l",
      join(dir, "server.log"),
      "-o",
      serverOptions,
      "-w",
      "-t",
      "30",
      "start",
    ]);
  } catch (err) {
    const log = existsSync(join(dir, "server.log")) ? readFileSync(join(dir, "server.log"), "utf8") : "";
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start postgres: ${(err as Error).message}\n${log}`);
  }
  let server = postmaster(data);
  // If the test process dies without afterAll, the server must not outlive it.
  const killOnExit = () => signalIfSame(server, "SIGQUIT");
  process.once("exit", killOnExit);
  const url = (database: string) =>
    `postgresql://postgres@localhost/${database}?host=${encodeURIComponent(dir)}`;
  let counter = 0;
  return {
    get pid() {
      return server.pid;
    },
    url,
    restart: async () => {
      run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-m", "fast", "-w", "-t", "30", "restart"]);
      server = postmaster(data);
    },
    createDatabase: async () => {
      const name = `t${process.pid}_${++counter}`;
      const admin = new pg.Client({ connectionString: url("postgres") });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    stop: async () => {
      process.off("exit", killOnExit);
      await stopProcess(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A process known by its pid and its start time: the suite starts thousands of processes and pids
 * wrap around (pid_max may be 32768), so a pid alone may name another process (a test worker)
 * once the server is gone. Nothing is signalled unless both still match.
 */
interface Process {
  pid: number;
  start: string | undefined;
}

function postmaster(data: string): Process {
  const pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  return { pid, start: startTime(pid) };
}

/**
 * Whether the process still runs: the same start time, and not a zombie (it has exited). Without
 * /proc (not Linux), the pid alone.
 */
function isAlive(p: Process): boolean {
  if (p.start === undefined && !existsSync("/proc/self/stat")) {
    try {
      process.kill(p.pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  try {
    const fields = statFields(p.pid);
    return fields[19] === p.start && fields[0] !== "Z";
  } catch {
    return false;
  }
}

function signalIfSame(p: Process, signal: NodeJS.Signals): boolean {
  if (!isAlive(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGQUIT is postgres's immediate shutdown: no shutdown checkpoint (seconds), which a server
 * whose data directory is deleted next has no use for.
 */
async function stopProcess(p: Process): Promise<void> {
  const signals: [NodeJS.Signals, number][] = [
    ["SIGQUIT", 10_000],
    ["SIGKILL", 5_000],
  ];
  for (const [signal, waitMs] of signals) {
    if (!signalIfSame(p, signal)) return; // already gone
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isAlive(p)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function findBinDir(): string {
  const find = () => {
    const root = "/usr/lib/postgresql";
    if (!existsSync(root)) return undefined;
    const majors = readdirSync(root)
      .filter((v) => existsSync(join(root, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    const major = majors.includes(PREFERRED_MAJOR) ? PREFERRED_MAJOR : majors[0];
    return major ? join(root, major, "bin") : undefined;
  };
  let bin = find();
  if (!bin) {
    const script = join(dirname(fileURLToPath(import.meta.url)), "install-postgres.sh");
    execFileSync("bash", [script], { stdio: "inherit" });
    bin = find();
  }
  if (!bin) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin");
  return bin;
}
