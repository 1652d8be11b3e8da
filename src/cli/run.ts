/**
 * `stackpilot run NAME`: a procedure of the default branch's config, run by the App. The run is
 * queued in the state store the App shares (DATABASE_URL, or the data directory while the App is
 * stopped): the App's worker runs it with its GitHub check run and Deployments. `--wait` follows
 * it to its end. `--dry-run` runs nothing: it plans the checkout here and prints each stage's
 * (stack, host, action), touching no host.
 */
import { resolve } from "node:path";
import { parseLimitsFrom } from "../detect/blobReader.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import { planDeploy } from "../plan/planDeploy.ts";
import { type Policy, policySource } from "../policy/policy.ts";
import { definitionOf, type RunDefinition } from "../procedures/definition.ts";
import { type DryRunInput, dryRun } from "../procedures/dryRun.ts";
import { runView, viewRows } from "../procedures/view.ts";
import type { DeployedState } from "../state/deployed.ts";
import { RUN_ENDED } from "../state/procedureRuns.ts";
import type { Store } from "../state/store.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { oneOperand } from "./operands.ts";
import { defaultBranchPolicy, type SessionPlanOptions, sessionPlanOptions } from "./planInputs.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir } from "./session.ts";
import { table } from "./table.ts";
import { withSession, withStore } from "./withState.ts";

export const RUN_HELP = `Usage: stackpilot run PROCEDURE [options]

Run a procedure of the repository's .github/stackpilot.yml, as its default branch defines it.
The App runs it (with its check run and GitHub Deployments): the run is queued in the state
store the App uses (DATABASE_URL; or the data directory, picked up when the App next starts).

Options:
  --repo DIR          repository checkout, for its identity and --dry-run (default: .)
  --branch NAME       branch to run at (default: the repository's default branch)
  --wait              follow the run to its end; exit 0 only when it succeeded
  --dry-run           run nothing: plan the checkout and print each stage's (stack, host,
                      action), touching no host (needs --hosts)
  --ref REF           commit for --dry-run (default: HEAD)
  --hosts FILE        hosts file (for --dry-run)
  --data DIR          state directory (default: $STACKPILOT_DATA_DIR or .stackpilot)
  -h, --help          show this help

Exit status: 0 queued (or succeeded, with --wait), 1 unknown procedure, failed run, 2 usage.
`;

export async function runCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseRunArgs(argv);
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const name = oneOperand(positionals, "PROCEDURE");
  if (values.branch && !/^[A-Za-z0-9._/-]{1,200}$/.test(values.branch))
    throw new UsageError(`--branch ${JSON.stringify(values.branch)} is not a branch name`);
  const repo = new GitRepo(resolve(values.repo));
  const repoId = await repoIdentity(repo);
  const rules = await defaultBranchPolicy(repo, parseLimitsFrom());
  const definition = definitionOf(rules.policy.procedures, name);
  if (!definition) {
    io.err(noSuchProcedure(name, rules.policy));
    return 1;
  }
  if (values["dry-run"])
    return dryRunCommand(io, {
      repo,
      repoId,
      name,
      ref: values.ref,
      hosts: values.hosts,
      data: values.data,
      definition,
      branch: values.branch ?? rules.branch,
    });
  return withStore(defaultDataDir(values.data), (store) =>
    queueAndFollow(store, { ...values, repoId, name }, io),
  );
}

function noSuchProcedure(name: string, policy: Policy): string {
  const defined = [...policy.procedures.keys()].join(", ") || "none";
  return `stackpilot run: no procedure "${name}" on the default branch (${policySource(policy)}); defined: ${defined}\n`;
}

function parseRunArgs(argv: string[]) {
  return parse(
    argv,
    {
      repo: { type: "string", default: "." },
      branch: { type: "string" },
      wait: { type: "boolean" },
      "dry-run": { type: "boolean" },
      ref: { type: "string", default: "HEAD" },
      hosts: { type: "string" },
      data: { type: "string" },
    },
    true,
  );
}

/** Queues the run for the App, then follows it with `--wait`. */
async function queueAndFollow(
  store: Store,
  o: { repoId: string; name: string; branch?: string | undefined; wait?: boolean | undefined },
  io: Io,
): Promise<number> {
  const id = await queue(store, {
    repo: o.repoId,
    branch: o.branch ?? null,
    procedure: o.name,
    source: "cli",
    actor: process.env.STACKPILOT_ACTOR ?? (await import("node:os")).userInfo().username,
  });
  io.out(`run #${id} of ${o.name} queued for ${o.repoId}\n`);
  if (!o.wait) {
    io.out(`follow it with: stackpilot runs ${id}\n`);
    return 0;
  }
  return await follow(store, id, io);
}

/** Creates the run and queues it on the shared pg-boss (the App's procedure queue). */
async function queue(store: Store, input: Parameters<Store["procedures"]["createRun"]>[0]): Promise<number> {
  const { startBoss } = await import("../state/boss.ts");
  const { createProcedureQueue } = await import("../github/jobs/procedureQueue.ts");
  const boss = await startBoss(store);
  try {
    const q = await createProcedureQueue(boss);
    const { id } = await store.procedures.createRun(input);
    await q.send(id);
    return id;
  } finally {
    await boss.stop({ graceful: true, close: false });
  }
}

async function follow(store: Store, id: number, io: Io): Promise<number> {
  let last = "";
  for (;;) {
    const run = await store.procedures.getRun(id);
    if (!run) return 1;
    const steps = await store.procedures.listSteps(id);
    const line = `${run.status} ${steps.map((s) => `${s.path}:${s.status}`).join(" ")}`;
    if (line !== last) {
      last = line;
      for (const s of steps.filter((x) => x.finishedAt && x.kind !== "stage"))
        io.err(`[${s.path}] ${s.name}: ${s.status}${s.reason ? ` (${s.reason})` : ""}\n`);
    }
    if (RUN_ENDED.has(run.status)) {
      const view = runView(run, steps);
      io.out(table(["STAGE / STEP", "KIND", "STATE", "DETAIL"], viewRows(view)));
      io.out(
        `run #${id}: ${run.status}${run.reason ? ` (${run.reason})` : ""}${run.error ? `\n${run.error}` : ""}\n`,
      );
      return run.status === "succeeded" ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

interface DryRunRequest {
  repo: GitRepo;
  repoId: string;
  name: string;
  ref: string;
  hosts: string | undefined;
  data: string | undefined;
  definition: RunDefinition;
  branch: string;
}

async function dryRunCommand(io: Io, o: DryRunRequest): Promise<number> {
  if (!o.hosts) throw new UsageError("--dry-run needs --hosts FILE");
  const head = await o.repo.resolveCommit(o.ref);
  if (!head) throw new UsageError(`unknown revision "${o.ref}"`);
  const opened = { hostsFile: o.hosts, dataDir: defaultDataDir(o.data) };
  return withSession(opened, async (session) => {
    const deployed = (await session.store.getDeployed(o.repoId)).map((d) => ({ ...d, pinned: d.pinned }));
    const { defaultBranch, options } = await sessionPlanOptions(session, o.repo, o.repoId, parseLimitsFrom());
    const rows = await dryRun({
      definition: o.definition,
      plan: plannerAt(o.repo, head, options, deployed),
      deployed,
      inventory: options.hosts,
      filters: {},
      changed: undefined,
      branch: o.branch,
      defaultBranch,
    });
    io.out(`dry run of ${o.name} at ${head.slice(0, 7)} (nothing was run):\n`);
    io.out(
      table(
        ["STAGE", "STEP", "STACK", "HOST", "ACTION", "WHY"],
        rows.map((r) => [r.stage, r.step, r.stack, r.host, r.action, r.reason]),
      ),
    );
    return 0;
  });
}

/**
 * The plan of the commit alone (no image pulls worked out), forced or not, as dryRun asks for it:
 * each planned once, sharing one parse cache.
 */
function plannerAt(
  repo: GitRepo,
  head: string,
  options: SessionPlanOptions,
  deployed: DeployedState[],
): DryRunInput["plan"] {
  const cache = new ParseCache();
  const plans = new Map<boolean, ReturnType<typeof planDeploy>>();
  return async (force) => {
    let p = plans.get(force);
    if (!p) {
      const forced = force ? { force: true } : {};
      p = planDeploy(repo, { ...options, base: head, head, deployed, ...forced, pulls: false }, cache);
      plans.set(force, p);
    }
    const r = await p;
    return { plan: r.plan, images: r.images, policy: options.policy.policy };
  };
}
