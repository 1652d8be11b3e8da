/**
 * `stackpilot_host_up` from the App's own SSH traffic: every command that ran (whatever its exit
 * status) says the host is up; one that could not connect or log in says it is down. Errors of the
 * command itself (a timeout, a lost connection mid-command) say nothing about the host.
 */
import type { RemoteExec } from "../deploy/runner.ts";
import {
  AuthError,
  HostKeyMismatchError,
  HostKeyUnknownError,
  UnreachableError,
} from "../deploy/ssh/errors.ts";
import type { StackpilotMetrics } from "./metrics.ts";

const DOWN = [UnreachableError, AuthError, HostKeyMismatchError, HostKeyUnknownError];

export function reportingHostUp(remote: RemoteExec, metrics: Pick<StackpilotMetrics, "hostUp">): RemoteExec {
  return {
    async exec(host, commandLine, opts) {
      try {
        const result = await remote.exec(host, commandLine, opts);
        metrics.hostUp(host, true);
        return result;
      } catch (err) {
        if (DOWN.some((kind) => err instanceof kind)) metrics.hostUp(host, false);
        throw err;
      }
    },
  };
}
