/**
 * A hook on the target host: one round trip, a constant `sh -c` wrapper (shell.ts `script`) with
 * everything variable a positional argument. The hook's argv runs verbatim (the wrapper runs
 * `"$@"`: its elements are never read by a shell), its environment is exported from `NAME=value`
 * arguments (`export "$1"` assigns the value as it is: nothing in it is expanded or run). Pure.
 *
 * The timeout is enforced on the host, where the processes are: the hook starts in a session of
 * its own (`setsid`, util-linux or busybox), so it and everything it starts form one process
 * group; a watchdog (a background subshell of the wrapper, polling once a second so that it ends
 * with the hook, and never early) sends the group TERM at the timeout and KILL `killAfterS` later. Whatever the
 * hook leaves running when it ends is killed too: a hook's processes end with it. Written in
 * POSIX sh rather than `timeout(1)`, because busybox's `timeout` signals the child alone, not
 * its process group.
 *
 * The wrapper's last line on stderr says how the hook ended (see `hookOutcome`); the exit status
 * is the hook's, or HOOK_TIMED_OUT.
 */
import { type Argv, script } from "../shell.ts";

/** Exit status of a hook that timed out (as with `timeout(1)`). */
export const HOOK_TIMED_OUT = 124;
/** Seconds between TERM and KILL of a hook's process group at its timeout. */
export const HOOK_KILL_AFTER_S = 5;

export interface HookCommand {
  /** Where the hook runs: the stack's directory in the release. */
  cwd: string;
  /** What runs: the configured argv, or a script's absolute path in the release. */
  argv: readonly string[];
  /** Environment of the hook, added to the login environment of the deploy user. */
  env: Readonly<Record<string, string>>;
  timeoutS: number;
  killAfterS?: number;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const WRAPPER =
  "d=$1 t=$2 k=$3 n=$4; shift 4; " +
  'while [ "$n" -gt 0 ]; do export "$1" || exit 125; shift; n=$((n - 1)); done; ' +
  'cd -- "$d" || exit 125; ' +
  "command -v setsid >/dev/null 2>&1 || " +
  '{ echo "stackpilot: setsid is not installed on this host (util-linux or busybox): hooks need it" >&2; exit 127; }; ' +
  "to=0; trap 'to=1' USR1; " +
  'setsid "$@" </dev/null & p=$!; ' +
  // Counted sleeps: never early (a clock's whole seconds would be), late by milliseconds.
  '( i=0; while [ "$i" -lt "$t" ]; do sleep 1; kill -0 "$p" 2>/dev/null || exit 0; i=$((i + 1)); done; ' +
  'kill -USR1 $$; kill -TERM "-$p"; sleep "$k"; kill -KILL "-$p" ) </dev/null >/dev/null 2>&1 & w=$!; ' +
  // A trapped signal (the watchdog's USR1) ends `wait` early: wait again until the hook is gone.
  'wait "$p"; c=$?; while kill -0 "$p" 2>/dev/null; do wait "$p"; c=$?; done; ' +
  'kill "$w" 2>/dev/null; kill -KILL "-$p" 2>/dev/null; ' +
  `if [ "$to" = 1 ]; then echo "[stackpilot] hook timed out after $t s: its process group was killed" >&2; exit ${HOOK_TIMED_OUT}; fi; ` +
  'echo "[stackpilot] hook exited with status $c" >&2; exit "$c"';

/** The hook as one command: cd, environment, the argv in its own process group, the timeout. */
export function runHook(c: HookCommand): Argv {
  const killAfter = c.killAfterS ?? HOOK_KILL_AFTER_S;
  for (const [what, s] of [
    ["timeout", c.timeoutS],
    ["kill-after", killAfter],
  ] as const)
    if (!Number.isSafeInteger(s) || s < (what === "timeout" ? 1 : 0))
      throw new Error(`bad hook ${what} ${JSON.stringify(s)}`);
  if (c.argv.length === 0 || c.argv[0] === "") throw new Error("a hook needs a command");
  const env = Object.entries(c.env).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new Error(`bad hook environment name ${JSON.stringify(name)}`);
    return `${name}=${value}`;
  });
  return script(WRAPPER, c.cwd, String(c.timeoutS), String(killAfter), String(env.length), ...env, ...c.argv);
}

/** How a hook ended, from the wrapper's last line; undefined when the wrapper did not get to say. */
export type HookOutcome = { ended: "exited"; code: number } | { ended: "timed_out"; afterS: number };

const OUTCOME = /^\[stackpilot\] hook (?:exited with status (\d+)|timed out after (\d+) s)/gm;

/**
 * The wrapper's verdict: the last such line of stderr (the hook's own output comes before it, and
 * the hook's processes are gone when the wrapper writes it). Undefined when the wrapper never got
 * to the end: the lock's fence refused, setsid is missing, the connection dropped.
 */
export function hookOutcome(code: number | null, stderr: string): HookOutcome | undefined {
  let last: RegExpExecArray | undefined;
  for (const m of stderr.matchAll(OUTCOME)) last = m;
  if (!last || code === null) return undefined;
  if (last[2] !== undefined)
    return code === HOOK_TIMED_OUT ? { ended: "timed_out", afterS: Number(last[2]) } : undefined;
  return Number(last[1]) === code ? { ended: "exited", code } : undefined;
}
