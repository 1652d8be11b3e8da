/**
 * What `stackpilot stop` and `stackpilot start` share: the hosts a stack is deployed on (or
 * those `--host` matches), each stopped or started through deploy/stackPower.ts, a table.
 */
import { resolve } from "node:path";
import { type PowerResult, startStack, stopStack } from "../deploy/stackPower.ts";
import { GitRepo } from "../git/repo.ts";
import { compileGlob } from "../util/glob.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir, openSession } from "./session.ts";
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
  const { values, positionals } = parse(
    argv,
    {
      host: { type: "string", multiple: true },
      repo: { type: "string", default: "." },
      hosts: { type: "string" },
      data: { type: "string" },
    },
    true,
  );
  if (values.help) {
    io.out(powerHelp(verb));
    return 0;
  }
  const [stack, ...extra] = positionals;
  if (!stack) throw new UsageError("missing STACK");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(stack)) throw new UsageError(`"${stack}" is not a stack name`);
  if (!values.hosts) throw new UsageError("--hosts FILE is required");
  const repoId = await repoIdentity(new GitRepo(resolve(values.repo)));
  const session = await openSession({ hostsFile: values.hosts, dataDir: defaultDataDir(values.data) });
  try {
    const hostOk = values.host?.length ? compileGlob(values.host) : () => true;
    const targets = (await session.store.getDeployed(repoId)).filter(
      (d) => d.stack === stack && hostOk(d.host),
    );
    if (targets.length === 0) {
      io.err(`stackpilot ${verb}: ${stack} is not deployed on any${values.host ? " matching" : ""} host\n`);
      return 1;
    }
    const act = verb === "stop" ? stopStack : startStack;
    const results: PowerResult[] = await Promise.all(
      targets.map((d) => {
        const host = session.hosts.find((h) => h.name === d.host);
        if (!host) return { host: d.host, ok: false as const, error: "not in the hosts file" };
        return act({
          store: session.store,
          remote: session.pool,
          host,
          repo: repoId,
          stack,
          actor: session.actor,
          engine: { lockOwner: session.installationId },
        });
      }),
    );
    io.out(
      table(
        ["HOST", "RESULT", "DETAIL"],
        results.map((r) => [
          r.host,
          r.ok ? (verb === "stop" ? "stopped" : "started") : "failed",
          r.ok ? r.note : (r.error.split("\n").at(-1) ?? ""),
        ]),
      ),
    );
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await session.close();
  }
}
