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
  let pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
  // If the test process dies without afterAll, the server must not outlive it.
  const killOnExit = () => {
    try {
      process.kill(pid, "SIGQUIT");
    } catch {}
  };
  process.once("exit", killOnExit);
  const url = (database: string) =>
    `postgresql://postgres@localhost/${database}?host=${encodeURIComponent(dir)}`;
  let counter = 0;
  return {
    get pid() {
      return pid;
    },
    url,
    restart: async () => {
      run("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-m", "fast", "-w", "-t", "30", "restart"]);
      pid = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
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
      await stopByPid(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * SIGQUIT is postgres's immediate shutdown: no shutdown checkpoint (seconds), which a server
 * whose data directory is deleted next has no use for.
 */
async function stopByPid(pid: number): Promise<void> {
  const signals: [NodeJS.Signals, number][] = [
    ["SIGQUIT", 10_000],
    ["SIGKILL", 5_000],
  ];
  for (const [signal, waitMs] of signals) {
    try {
      process.kill(pid, signal);
    } catch {
      return; // already gone
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      if (!isAlive(pid)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // pg_ctl's daemon is reparented to init, which may take a while to reap it: a zombie has exited.
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return true;
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
