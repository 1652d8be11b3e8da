/**
 * `stackpilot rollback STACK`: re-activate a retained release on each host (the previous one, or
 * `--to SHA`) without uploading or building, and pin it so automatic deploys leave it alone.
 */
import { resolve } from "node:path";
import type { HostJobResult } from "../deploy/orchestrate.ts";
import { rollbackHost } from "../deploy/rollbackHost.ts";
import { GitRepo } from "../git/repo.ts";
import { rollbackEvent } from "../notify/events.ts";
import { compileGlob } from "../util/glob.ts";
import { parse, UsageError } from "./args.ts";
import { summaryTable } from "./deploy.ts";
import type { Io } from "./main.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir, openSession } from "./session.ts";

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
  const { values, positionals } = parse(
    argv,
    {
      to: { type: "string" },
      host: { type: "string", multiple: true },
      repo: { type: "string", default: "." },
      hosts: { type: "string" },
      data: { type: "string" },
    },
    true,
  );
  if (values.help) {
    io.out(ROLLBACK_HELP);
    return 0;
  }
  const [stack, ...extra] = positionals;
  if (!stack) throw new UsageError("missing STACK");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  if (values.to && !/^[0-9a-f]{4,64}$/.test(values.to))
    throw new UsageError(`--to must be a commit SHA, got "${values.to}"`);
  const repoId = await repoIdentity(new GitRepo(resolve(values.repo)));

  const session = await openSession({
    hostsFile: values.hosts,
    dataDir: defaultDataDir(values.data),
    err: (line) => io.err(line),
  });
  try {
    const hostOk = values.host?.length ? compileGlob(values.host) : () => true;
    const targets = (await session.store.getDeployed(repoId)).filter(
      (d) => d.stack === stack && hostOk(d.host),
    );
    if (targets.length === 0) {
      io.err(`stackpilot rollback: ${stack} is not deployed on any${values.host ? " matching" : ""} host\n`);
      return 1;
    }
    const results = await Promise.all(
      targets.map(async (d): Promise<HostJobResult> => {
        const t0 = performance.now();
        const config = session.hosts.find((h) => h.name === d.host);
        const done = (status: HostJobResult["status"], error?: string): HostJobResult => ({
          stack,
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
          stack,
          deployed: d,
          ...(values.to ? { to: values.to } : {}),
          actor: session.actor,
          engine: { lockOwner: session.installationId },
        });
        session.notifier.emit(rollbackEvent({ repo: repoId, stack, host: d.host }, session.actor, r));
        if (!r.ok) return done("failed", r.error);
        io.err(`[${d.host}] ${stack}: ${r.from?.slice(0, 7) ?? "(none)"} -> ${r.to.slice(0, 7)}, pinned\n`);
        return done("succeeded");
      }),
    );
    io.out(summaryTable(results));
    return results.every((r) => r.status === "succeeded") ? 0 : 1;
  } finally {
    await session.close();
  }
}
