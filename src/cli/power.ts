/**
 * What `stackpilot stop` and `stackpilot start` share: the hosts a stack is deployed on (or
 * those `--host` matches), each stopped or started through deploy/stackPower.ts, a table.
 */
import { type PowerResult, startStack, stopStack } from "../deploy/stackPower.ts";
import type { DeployedState } from "../state/deployed.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { oneOperand } from "./operands.ts";
import type { Session } from "./session.ts";
import { onStackTargets, STACK_TARGET_OPTIONS } from "./stackTargets.ts";
import { table } from "./table.ts";

export const powerHelp = (verb: "stop" | "start") => `Usage: stackpilot ${verb} STACK [options]

${
  verb === "stop"
    ? "Stop STACK on purpose on its hosts: compose down of the current release, which is kept.\nNo plan starts it again (not a push, a procedure or a batch deploy) until stackpilot start."
    : "Start STACK again where it was stopped on purpose: its current release is brought up,\nchecked healthy, and the stop is forgotten."
}

Options:
  --host GLOB       only hosts matching (repeatable; default: every host the stack is deployed on)
  --repo DIR        repository checkout, for its identity (default: .)
  --hosts FILE      hosts file (required)
  --data DIR        state directory (default: $STACKPILOT_DATA_DIR or .stackpilot)
  -h, --help        show this help

Exit status: 0 done on every host, 1 a host failed, 2 usage error.
`;

export async function powerCommand(verb: "stop" | "start", argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, STACK_TARGET_OPTIONS, true);
  if (values.help) {
    io.out(powerHelp(verb));
    return 0;
  }
  const stack = oneOperand(positionals, "STACK");
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(stack)) throw new UsageError(`"${stack}" is not a stack name`);
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  const where = { ...values, stack, hostsFile: values.hosts };
  return onStackTargets(verb, io, where, async ({ session, repoId, targets }) => {
    const results = await Promise.all(targets.map((d) => powerTarget(verb, session, repoId, d)));
    io.out(powerTable(verb, results));
    return results.every((r) => r.ok) ? 0 : 1;
  });
}

async function powerTarget(
  verb: "stop" | "start",
  session: Session,
  repoId: string,
  d: DeployedState,
): Promise<PowerResult> {
  const host = session.hosts.find((h) => h.name === d.host);
  if (!host) return { host: d.host, ok: false, error: "not in the hosts file" };
  return (verb === "stop" ? stopStack : startStack)({
    store: session.store,
    remote: session.pool,
    host,
    repo: repoId,
    stack: d.stack,
    actor: session.actor,
    engine: { lockOwner: session.installationId },
  });
}

function powerTable(verb: "stop" | "start", results: readonly PowerResult[]): string {
  return table(
    ["HOST", "RESULT", "DETAIL"],
    results.map((r) => [
      r.host,
      r.ok ? (verb === "stop" ? "stopped" : "started") : "failed",
      r.ok ? r.note : (r.error.split("\n").at(-1) ?? ""),
    ]),
  );
}
