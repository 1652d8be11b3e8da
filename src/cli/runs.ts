/**
 * `stackpilot runs [ID]`: procedure runs from the state store (no host, no App contacted): the
 * latest runs of the repository, or one run with every stage and step, its state and why, the
 * targets it deployed and the end of each error.
 */
import { resolve } from "node:path";
import { GitRepo } from "../git/repo.ts";
import { runName, runView, viewRows } from "../procedures/view.ts";
import type { Run } from "../state/procedureRuns.ts";
import type { Store } from "../state/store.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { optionalOperand } from "./operands.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir } from "./session.ts";
import { table } from "./table.ts";
import { hasState, withStore } from "./withState.ts";

export const RUNS_HELP = `Usage: stackpilot runs [ID] [options]

Procedure runs from the state store: the latest of the repository, or run ID in full (every
stage and step with its state and why, the targets it deployed, the end of each error).

Options:
  --repo DIR        repository checkout, for its identity (default: .)
  --limit N         runs listed (default: 20)
  --json            print JSON
  --data DIR        state directory (default: $STACKPILOT_DATA_DIR or .stackpilot)
  -h, --help        show this help

Exit status: 0 shown, 1 no such run or no state, 2 usage error.
`;

export async function runsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      repo: { type: "string", default: "." },
      limit: { type: "string", default: "20" },
      json: { type: "boolean" },
      data: { type: "string" },
    },
    true,
  );
  if (values.help) {
    io.out(RUNS_HELP);
    return 0;
  }
  const idText = optionalOperand(positionals);
  if (idText !== undefined && !/^[0-9]{1,15}$/.test(idText))
    throw new UsageError(`run ID must be a number, got "${idText}"`);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError("--limit must be 1 to 1000");
  const dataDir = defaultDataDir(values.data);
  if (!hasState(dataDir)) {
    io.err(`stackpilot runs: no state in ${dataDir}; --data DIR or DATABASE_URL name another\n`);
    return 1;
  }
  return withStore(dataDir, (store) =>
    idText === undefined
      ? listRuns(store, { ...values, limit }, io)
      : showRun(store, idText, Boolean(values.json), io),
  );
}

/** One run with every stage and step. */
async function showRun(store: Store, idText: string, json: boolean, io: Io): Promise<number> {
  const run = await store.procedures.getRun(Number(idText));
  if (!run) {
    io.err(`stackpilot runs: no run ${idText}\n`);
    return 1;
  }
  const view = runView(run, await store.procedures.listSteps(run.id));
  if (json) io.out(`${JSON.stringify(view, null, 2)}\n`);
  else {
    io.out(
      `run #${view.id} of ${view.procedure} (${view.source}${view.trigger ? ` ${view.trigger}` : ""}, ${view.actor}) on ${view.repo} ${view.branch ?? ""} ${view.head?.slice(0, 7) ?? ""}: ${view.status}${view.reason ? ` (${view.reason})` : ""}\n`,
    );
    if (view.error) io.out(`${view.error}\n`);
    io.out(table(["STAGE / STEP", "KIND", "STATE", "DETAIL"], viewRows(view)));
  }
  return 0;
}

/** The repository's latest runs. */
async function listRuns(
  store: Store,
  o: { repo: string; limit: number; json?: boolean | undefined },
  io: Io,
): Promise<number> {
  const repo = await repoIdentity(new GitRepo(resolve(o.repo)));
  const runs = await store.procedures.listRuns({ repo, limit: o.limit });
  if (o.json)
    io.out(
      `${JSON.stringify(
        runs.map((r) => runView(r, [])),
        null,
        2,
      )}\n`,
    );
  else io.out(runsTable(runs));
  return 0;
}

function runsTable(runs: readonly Run[]): string {
  return table(
    ["ID", "PROCEDURE", "SOURCE", "ACTOR", "COMMIT", "STATE", "CREATED"],
    runs.map((r) => [
      String(r.id),
      runName(r),
      r.source,
      r.actor,
      r.head?.slice(0, 7) ?? "",
      r.status,
      r.createdAt.toISOString(),
    ]),
  );
}
