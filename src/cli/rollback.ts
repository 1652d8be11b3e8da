/**
 * `stackpilot rollback STACK`: re-activate a retained release on each host (the previous one, or
 * `--to SHA`) without uploading or building, and pin it so automatic deploys leave it alone.
 */
import type { HostJobResult } from "../deploy/orchestrate.ts";
import { rollbackHost } from "../deploy/rollbackHost.ts";
import { rollbackEvent } from "../notify/events.ts";
import type { DeployedState } from "../state/deployed.ts";
import { parse, UsageError } from "./args.ts";
import { summaryTable } from "./deploy.ts";
import type { Io } from "./main.ts";
import { oneOperand } from "./operands.ts";
import type { Session } from "./session.ts";
import { onStackTargets, STACK_TARGET_OPTIONS } from "./stackTargets.ts";

export const ROLLBACK_HELP = `Usage: stackpilot rollback STACK [options]

Re-activate an earlier release of STACK on its hosts, without rebuilding. The stack stays pinned
there (automatic deploys skip it) until the next explicit deploy.

Options:
  --to SHA          the release (commit) to go back to (default: the one before the current)
  --host GLOB       only hosts matching (repeatable; default: every host the stack is deployed on)
  --repo DIR        repository checkout, for its identity (default: .)
  --hosts FILE      hosts file (required)
  --data DIR        state directory (default: $STACKPILOT_DATA_DIR or .stackpilot)
  -h, --help        show this help

Exit status: 0 rolled back everywhere, 1 a host failed, 2 usage error.
`;

export async function rollbackCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { to: { type: "string" }, ...STACK_TARGET_OPTIONS }, true);
  if (values.help) {
    io.out(ROLLBACK_HELP);
    return 0;
  }
  const stack = oneOperand(positionals, "STACK");
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  const to = values.to;
  if (to && !/^[0-9a-f]{4,64}$/.test(to)) throw new UsageError(`--to must be a commit SHA, got "${to}"`);
  const where = { ...values, stack, hostsFile: values.hosts, err: (line: string) => io.err(line) };
  return onStackTargets("rollback", io, where, async ({ session, repoId, targets }) => {
    const results = await Promise.all(targets.map((d) => rollbackTarget(session, repoId, d, to, io)));
    io.out(summaryTable(results));
    return results.every((r) => r.status === "succeeded") ? 0 : 1;
  });
}

/** One host back to the release `to` (default: the one before), pinned; its result as a deploy's. */
async function rollbackTarget(
  session: Session,
  repoId: string,
  d: DeployedState,
  to: string | undefined,
  io: Io,
): Promise<HostJobResult> {
  const t0 = performance.now();
  const config = session.hosts.find((h) => h.name === d.host);
  const done = (status: HostJobResult["status"], error?: string): HostJobResult => ({
    stack: d.stack,
    host: d.host,
    action: "deploy",
    status,
    durationMs: Math.round(performance.now() - t0),
    ...(error ? { error } : {}),
  });
  if (!config) return done("failed", `host "${d.host}" is not in the hosts file`);
  const r = await rollbackHost({
    store: session.store,
    remote: session.pool,
    host: config,
    repo: repoId,
    stack: d.stack,
    deployed: d,
    ...(to ? { to } : {}),
    actor: session.actor,
    engine: { lockOwner: session.installationId },
  });
  session.notifier.emit(rollbackEvent({ repo: repoId, stack: d.stack, host: d.host }, session.actor, r));
  if (!r.ok) return done("failed", r.error);
  io.err(`[${d.host}] ${d.stack}: ${r.from?.slice(0, 7) ?? "(none)"} -> ${r.to.slice(0, 7)}, pinned\n`);
  return done("succeeded");
}
