/**
 * The hook wrapper (src/deploy/commands/hooks.ts): its exact command line, and what it does when
 * its quoted command line runs through a real `sh -c`, as sshd runs it: argv verbatim, environment
 * values never read as code, the timeout killing the hook's whole process group, leftovers killed.
 * Run with dash (Debian's sh) and busybox's ash (Alpine's).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOOK_TIMED_OUT, hookOutcome, runHook } from "../../src/deploy/commands/hooks.ts";
import { type Argv, commandLine } from "../../src/deploy/shell.ts";
import { isRunning } from "../helpers/processes.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-hooks-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const SHELLS: [name: string, argv: string[]][] = [
  ["dash", ["sh"]],
  ["busybox ash", ["busybox", "sh"]],
];
const hasBusybox = spawnSync("busybox", ["true"]).status === 0;

/** Runs the argv's command line as sshd would (`<shell> -c LINE`). */
function run(shell: string[], argv: Argv) {
  const [bin, ...args] = shell as [string, ...string[]];
  const t0 = performance.now();
  const r = spawnSync(bin, [...args, "-c", commandLine(argv)], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/**
 * Whether the process is still alive after up to 3 s: a KILL is sent when the wrapper ends, but a
 * loaded machine may take a moment to schedule the process to its death.
 */
function outlives(pid: number): boolean {
  for (const until = Date.now() + 3_000; isRunning(pid) && Date.now() < until; ) spawnSync("sleep", ["0.05"]);
  return isRunning(pid);
}

const HOSTILE = [
  "a b",
  "it's",
  '"q"',
  "$(touch pwned)",
  "`touch pwned2`",
  "x; touch pwned3",
  "a\nb",
  "*",
  "~",
  "-n",
  "--",
  "\\",
  "$HOME",
  "NAME=value",
  "é ünï 🚀",
];

describe("the hook command", () => {
  it("is a constant script with cwd, timeout, kill-after, the environment and the argv as arguments", () => {
    const line = commandLine(
      runHook({
        cwd: "/srv/sp/web/releases/abc/stacks/web",
        argv: ["./migrate.sh", "--to", "latest"],
        env: { STACKPILOT_STACK: "web", STACKPILOT_ACTOR: "o'brien" },
        timeoutS: 30,
      }),
    );
    expect(line.startsWith("sh -c 'd=$1 t=$2 k=$3 n=$4; shift 4; ")).toBe(true);
    expect(
      line.endsWith(
        "' sh /srv/sp/web/releases/abc/stacks/web 30 5 2 STACKPILOT_STACK=web 'STACKPILOT_ACTOR=o'\\''brien' ./migrate.sh --to latest",
      ),
    ).toBe(true);
  });

  it("refuses environment names a shell could misread, empty commands and bad timeouts", () => {
    const base = { cwd: "/x", argv: ["true"], env: {}, timeoutS: 5 };
    expect(() => runHook({ ...base, env: { "A;B": "x" } })).toThrow("bad hook environment name");
    expect(() => runHook({ ...base, env: { "A=B": "x" } })).toThrow("bad hook environment name");
    expect(() => runHook({ ...base, argv: [] })).toThrow("a hook needs a command");
    expect(() => runHook({ ...base, timeoutS: 0 })).toThrow("bad hook timeout");
    expect(() => runHook({ ...base, timeoutS: 1.5 })).toThrow("bad hook timeout");
  });
});

describe.each(SHELLS)("the hook wrapper under %s", (name, shell) => {
  const skip = name.startsWith("busybox") && !hasBusybox;

  it.skipIf(skip)("runs a hostile argv verbatim, in its directory, nothing in it read by a shell", () => {
    const r = run(shell, runHook({ cwd: dir, argv: ["printf", "%s\\0", ...HOSTILE], env: {}, timeoutS: 10 }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);
    expect(readdirSync(dir)).toEqual([]);
    const named = run(
      shell,
      runHook({ cwd: dir, argv: ["touch", "--", "$(id);`x` && * |y"], env: {}, timeoutS: 10 }),
    );
    expect(named.code, named.stderr).toBe(0);
    expect(readdirSync(dir)).toEqual(["$(id);`x` && * |y"]);
    expect(hookOutcome(named.code, named.stderr)).toEqual({ ended: "exited", code: 0 });
  });

  it.skipIf(skip)("gives the environment's values as they are and runs in cwd", () => {
    const env = Object.fromEntries(HOSTILE.map((v, i) => [`STACKPILOT_V${i}`, v]));
    const r = run(
      shell,
      runHook({
        cwd: dir,
        argv: [
          "sh",
          "-c",
          'pwd; for i in $(seq 0 14); do eval "printf \'%s\\0\' \\"\\$STACKPILOT_V$i\\""; done',
        ],
        env,
        timeoutS: 10,
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    const [cwd, ...values] = r.stdout.split("\n");
    expect(cwd).toBe(dir);
    expect(values.join("\n").split("\0").slice(0, -1)).toEqual(HOSTILE);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(skip)("passes the hook's exit status through and says so last", () => {
    const r = run(
      shell,
      runHook({ cwd: dir, argv: ["sh", "-c", "echo out; echo err >&2; exit 3"], env: {}, timeoutS: 10 }),
    );
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("out\n");
    expect(r.stderr).toBe("err\n[stackpilot] hook exited with status 3\n");
    expect(hookOutcome(r.code, r.stderr)).toEqual({ ended: "exited", code: 3 });
  });

  it.skipIf(skip)("kills the hook's whole process group at the timeout, TERM first, then KILL", () => {
    const pids = join(dir, "pids");
    // A child that ignores TERM and a grandchild in the background: all of them must go.
    const r = run(
      shell,
      runHook({
        cwd: dir,
        argv: [
          "sh",
          "-c",
          `trap '' TERM; sleep 300 & echo $! >> ${pids}; sh -c 'sleep 301 & echo $! >> ${pids}; wait' & echo $$ >> ${pids}; wait`,
        ],
        env: {},
        timeoutS: 1,
        killAfterS: 1,
      }),
    );
    expect(r.code).toBe(HOOK_TIMED_OUT);
    expect(hookOutcome(r.code, r.stderr)).toEqual({ ended: "timed_out", afterS: 1 });
    expect(r.stderr).toContain("[stackpilot] hook timed out after 1 s: its process group was killed");
    expect(r.ms).toBeGreaterThanOrEqual(1900); // 1 s, then 1 s for the TERM-ignoring shell
    expect(r.ms).toBeLessThan(10_000);
    const started = readFileSync(pids, "utf8").trim().split("\n").map(Number);
    expect(started).toHaveLength(3);
    expect(started.filter(outlives)).toEqual([]);
  });

  it.skipIf(skip)("kills what a hook leaves running when it ends, and does not wait for it", () => {
    const pidFile = join(dir, "pid");
    const r = run(
      shell,
      runHook({
        cwd: dir,
        argv: ["sh", "-c", `sleep 300 >/dev/null 2>&1 & echo $! > ${pidFile}; echo done`],
        env: {},
        timeoutS: 30,
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.ms).toBeLessThan(5_000);
    expect(outlives(Number(readFileSync(pidFile, "utf8")))).toBe(false);
  });

  it.skipIf(skip)("fails before running anything when the directory is missing (no verdict)", () => {
    const r = run(
      shell,
      runHook({ cwd: join(dir, "missing"), argv: ["touch", join(dir, "ran")], env: {}, timeoutS: 5 }),
    );
    expect(r.code).toBe(125);
    expect(hookOutcome(r.code, r.stderr)).toBeUndefined();
    expect(existsSync(join(dir, "ran"))).toBe(false);
  });
});

describe("the wrapper's verdict", () => {
  it("is the last verdict line: a hook printing one of its own does not fool it", () => {
    const stderr = "[stackpilot] hook exited with status 0\nboom\n[stackpilot] hook exited with status 2\n";
    expect(hookOutcome(2, stderr)).toEqual({ ended: "exited", code: 2 });
  });

  it("is none when the line and the exit status disagree, or when there is no line", () => {
    expect(
      hookOutcome(76, "stackpilot: the lock /x/.lock is no longer held by this deploy\n"),
    ).toBeUndefined();
    expect(hookOutcome(1, "[stackpilot] hook exited with status 0\n")).toBeUndefined();
    expect(
      hookOutcome(1, "[stackpilot] hook timed out after 3 s: its process group was killed\n"),
    ).toBeUndefined();
    expect(hookOutcome(null, "[stackpilot] hook exited with status 0\n")).toBeUndefined();
  });
});
