/**
 * What the tests ask of a local process through /proc (Linux): whether it still runs, and its
 * start time, which tells a process apart from a later one given the same pid.
 */

import { readFileSync } from "node:fs";

/** /proc/PID/stat's fields from the state on (field 3): the command name before it may hold ") ". */
export function statFields(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
}

/** Field 22 of /proc/PID/stat, the start time; undefined when there is no such process. */
export function startTime(pid: number | string): string | undefined {
  try {
    return statFields(pid)[19];
  } catch {
    return undefined;
  }
}

/** The process exists and has not exited (a killed one lingers as a zombie until it is reaped). */
export function isRunning(pid: number | string): boolean {
  try {
    return statFields(pid)[0] !== "Z";
  } catch {
    return false;
  }
}
