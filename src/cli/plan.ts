/** `stackpilot plan`: plan a commit range of a local checkout. */
import { resolve } from "node:path";
import { parseLimitsFrom } from "../detect/blobReader.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import type { Plan } from "../plan/plan.ts";
import { planBudgetMs, watchBudget } from "../plan/planner.ts";
import { type PlannedRange, type PlanRangeOptions, planRange } from "../plan/planRange.ts";
import { renderJson } from "../plan/render/json.ts";
import { renderMarkdown } from "../plan/render/markdown.ts";
import { renderText } from "../plan/render/text.ts";
import { parse, UsageError } from "./args.ts";
import type { Io } from "./main.ts";
import { checkoutMounts, SOURCE_HELP, SOURCE_OPTION, sourceFlags } from "./mounts.ts";
import { repoIdentity } from "./repoIdentity.ts";

export const PLAN_HELP = `Usage: stackpilot plan [options]

Show which stacks changed between two commits and what would be deployed where.

Options:
  --repo DIR        repository checkout (default: .)
  --base REF        compare from this commit (default: HEAD~1; all-zero SHA = first push)
  --head REF        compare to this commit (default: HEAD)
  --hosts FILE      hosts file, to resolve host names and label selectors, and to plan
                    image builds (builders, registries) and each host's image operations
  --state FILE      deployed state (JSON); enables deploy-if-changed decisions
${SOURCE_HELP}
  --stack GLOB      only stacks matching (repeatable)
  --host GLOB       only hosts matching (repeatable)
  --json            print the plan as one JSON object
  --markdown        print the plan as GitHub markdown
  -v, --verbose     also list unchanged stacks
  -h, --help        show this help

A stack whose compose project or definition has errors is broken: it is shown, never deployed,
and every other stack is planned as usual. Submodules are read from the checkout's own clones
(.git/modules); one not checked out breaks the stacks using its files, naming the command that
fetches it.

Exit status: 0 plan printed, 1 the plan is not ok (invalid configuration, a broken stack that
the range changes, or a directory that cannot be a stack), 2 usage error.
`;

export async function planCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parsePlanArgs(argv);
  if (values.help) {
    io.out(PLAN_HELP);
    return 0;
  }
  if (values.json && values.markdown) throw new UsageError("--json and --markdown exclude each other");
  const repo = new GitRepo(resolve(values.repo));
  const base = await resolveBase(repo, values);
  const asked = await loadAsked(repo, values);
  const ranged = await planCommits(repo, base, asked, values);
  const plan = await withImagePlan(repo, ranged, asked.inventory);
  if (values.json) io.out(renderJson(plan));
  else if (values.markdown) io.out(renderMarkdown(plan));
  else io.out(renderText(plan, { verbose: !!values.verbose }));
  return plan.ok ? 0 : 1;
}

function parsePlanArgs(argv: string[]) {
  return parse(argv, {
    repo: { type: "string", default: "." },
    base: { type: "string" },
    head: { type: "string", default: "HEAD" },
    hosts: { type: "string" },
    state: { type: "string" },
    stack: { type: "string", multiple: true },
    host: { type: "string", multiple: true },
    json: { type: "boolean" },
    markdown: { type: "boolean" },
    verbose: { type: "boolean", short: "v" },
    source: SOURCE_OPTION,
  });
}

type PlanValues = ReturnType<typeof parsePlanArgs>["values"];

/** The commit to compare from, once --head is known to exist (none: the first commit). */
async function resolveBase(repo: GitRepo, values: PlanValues): Promise<string | undefined> {
  if (!(await repo.resolveCommit(values.head)))
    throw new UsageError(`unknown --head revision "${values.head}" in ${values.repo}`);
  const base = values.base ?? (await repo.resolveCommit(`${values.head}~1`)) ?? undefined;
  if (values.base && !(await repo.resolveCommit(values.base)) && !/^0+$/.test(values.base)) {
    throw new UsageError(`unknown --base revision "${values.base}"`);
  }
  return base;
}

/**
 * The hosts file, the state file and the default branch's rules, each loaded (module and file)
 * only when asked for: most plans need none of them.
 */
async function loadAsked(repo: GitRepo, values: PlanValues) {
  const hostsFile = values.hosts ? await import("../config/hostsFile.ts") : undefined;
  const inventory = hostsFile && values.hosts ? await hostsFile.loadInventory(values.hosts) : undefined;
  const stateFile = values.state ? await import("../state/stateFile.ts") : undefined;
  const deployed = stateFile && values.state ? await stateFile.loadStateFile(values.state) : undefined;
  // With a hosts file, targets are held against the default branch's rules as a deploy would be.
  const policy = inventory ? await import("../policy/load.ts") : undefined;
  const rules = policy ? await policy.localDefaultBranch(repo) : undefined;
  return { hostsFile, inventory, deployed, policy, rules };
}

type Asked = Awaited<ReturnType<typeof loadAsked>>;

async function planCommits(
  repo: GitRepo,
  base: string | undefined,
  asked: Asked,
  values: PlanValues,
): Promise<PlannedRange> {
  const { hostsFile, inventory, deployed } = asked;
  const sources = sourceFlags(values.source);
  const cache = new ParseCache();
  const mounts = await checkoutMounts(repo, { ...(base ? { base } : {}), head: values.head }, sources, cache);
  const stopWatch = watchBudget(cache, planBudgetMs(), `planning ${values.head}`);
  return planRange(
    repo,
    {
      ...(base ? { base } : {}),
      head: values.head,
      mounts,
      ...(hostsFile && inventory ? { hosts: hostsFile.hostRefs(inventory.hosts) } : {}),
      ...(await policyOption(repo, asked)),
      ...(deployed ? { deployed } : {}),
      only: { stacks: values.stack ?? [], hosts: values.host ?? [] },
      limits: parseLimitsFrom(),
    },
    cache,
  ).finally(stopWatch);
}

/** The default branch's rules and the repository's identity they are held for, when asked for. */
async function policyOption(
  repo: GitRepo,
  { policy, rules }: Asked,
): Promise<Pick<PlanRangeOptions, "policy">> {
  if (!policy || !rules) return {};
  return {
    policy: {
      policy: await policy.loadPolicy(repo, rules.branch, rules.ref, parseLimitsFrom()),
      repoId: await repoIdentity(repo),
    },
  };
}

/**
 * With a hosts file, the plan also says who builds which image and what each host pulls
 * (without build records every image is planned as a build).
 */
async function withImagePlan(
  repo: GitRepo,
  ranged: PlannedRange,
  inventory: Asked["inventory"],
): Promise<Plan> {
  const images = inventory ? await import("../plan/images.ts") : undefined;
  if (!images || !inventory) return ranged.plan;
  return images.planWithImages({
    plan: ranged.plan,
    head: ranged.head,
    inventory,
    repoId: await repoIdentity(repo),
  }).plan;
}
