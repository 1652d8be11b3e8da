/**
 * `stackpilot run NAME`: a procedure of the default branch's config, run by the App. The run is
 * queued in the state store the App shares (DATABASE_URL, or the data directory while the App is
 * stopped): the App's worker runs it with its GitHub check run and Deployments. `--wait` follows
 * it to its end. `--dry-run` runs nothing: it plans the checkout here and prints each stage's
 * (stack, host, action), touching no host.
 */
import { resolve } from "node:path";
import { hostRefs } from "../config/hostsFile.ts";
import { parseLimitsFrom } from "../detect/blobReader.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import { planDeploy } from "../plan/planDeploy.ts";
import { loadPolicy, localDefaultBranch } from "../policy/load.ts";
import { policySource } from "../policy/policy.ts";
import { definitionOf } from "../procedures/definition.ts";
import { dryRun } from "../procedures/dryRun.ts";
import { runView, viewRows } from "../procedures/view.ts";
import { RUN_ENDED } from "../state/procedureRuns.ts";
import type { Store } from "../state/store.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { repoIdentity } from "./repoIdentity.ts";
import { defaultDataDir, openSession, openStateStore } from "./session.ts";
import { table } from "./table.ts";

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
  const { values, positionals } = parse(
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
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (!name) throw new UsageError("missing PROCEDURE");
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (values.branch && !/^[A-Za-z0-9._/-]{1,200}$/.test(values.branch))
    throw new UsageError(`--branch ${JSON.stringify(values.branch)} is not a branch name`);
  const repo = new GitRepo(resolve(values.repo));
  const repoId = await repoIdentity(repo);
  const rules = await localDefaultBranch(repo);
  const policy = await loadPolicy(repo, rules.branch, rules.ref, parseLimitsFrom());
  const definition = definitionOf(policy.procedures, name);
  if (!definition) {
    io.err(
      `stackpilot run: no procedure "${name}" on the default branch (${policySource(policy)}); defined: ${[...policy.procedures.keys()].join(", ") || "none"}\n`,
    );
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

  const store = await openStateStore(defaultDataDir(values.data));
  try {
    const id = await queue(store, {
      repo: repoId,
      branch: values.branch ?? null,
      procedure: name,
      source: "cli",
      actor: process.env.STACKPILOT_ACTOR ?? (await import("node:os")).userInfo().username,
    });
    io.out(`run #${id} of ${name} queued for ${repoId}\n`);
    if (!values.wait) {
      io.out(`follow it with: stackpilot runs ${id}\n`);
      return 0;
    }
    return await follow(store, id, io);
  } finally {
    await store.close();
  }
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

async function dryRunCommand(
  io: Io,
  o: {
    repo: GitRepo;
    repoId: string;
    name: string;
    ref: string;
    hosts: string | undefined;
    data: string | undefined;
    definition: NonNullable<ReturnType<typeof definitionOf>>;
    branch: string;
  },
): Promise<number> {
  if (!o.hosts) throw new UsageError("--dry-run needs --hosts FILE");
  const head = await o.repo.resolveCommit(o.ref);
  if (!head) throw new UsageError(`unknown revision "${o.ref}"`);
  const session = await openSession({ hostsFile: o.hosts, dataDir: defaultDataDir(o.data) });
  try {
    const deployed = (await session.store.getDeployed(o.repoId)).map((d) => ({ ...d, pinned: d.pinned }));
    const stopped = await session.store.listStopped(o.repoId);
    const rules = await localDefaultBranch(o.repo);
    const limits = parseLimitsFrom();
    const policy = await loadPolicy(o.repo, rules.branch, rules.ref, limits);
    const cache = new ParseCache();
    const plans = new Map<boolean, ReturnType<typeof planDeploy>>();
    const rows = await dryRun({
      definition: o.definition,
      plan: async (force) => {
        let p = plans.get(force);
        if (!p) {
          p = planDeploy(
            o.repo,
            {
              base: head,
              head,
              hosts: hostRefs(session.hosts),
              deployed,
              stopped,
              ...(force ? { force: true } : {}),
              policy: { policy, repoId: o.repoId },
              inventory: session.inventory,
              repoId: o.repoId,
              builds: await session.store.listReusableBuilds(o.repoId),
              pulls: false,
              limits,
            },
            cache,
          );
          plans.set(force, p);
        }
        const r = await p;
        return { plan: r.plan, images: r.images, policy };
      },
      deployed,
      inventory: hostRefs(session.hosts),
      filters: {},
      changed: undefined,
      branch: o.branch,
      defaultBranch: rules.branch,
    });
    io.out(`dry run of ${o.name} at ${head.slice(0, 7)} (nothing was run):\n`);
    io.out(
      table(
        ["STAGE", "STEP", "STACK", "HOST", "ACTION", "WHY"],
        rows.map((r) => [r.stage, r.step, r.stack, r.host, r.action, r.reason]),
      ),
    );
    return 0;
  } finally {
    await session.close();
  }
}
