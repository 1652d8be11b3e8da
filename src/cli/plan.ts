/** `stackpilot plan`: plan a commit range of a local checkout. */
import { resolve } from "node:path";
import { parseLimitsFrom } from "../detect/blobReader.ts";
import { ParseCache } from "../detect/snapshot.ts";
import { GitRepo } from "../git/repo.ts";
import { planBudgetMs, watchBudget } from "../plan/planner.ts";
import { planRange } from "../plan/planRange.ts";
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
  const { values } = parse(argv, {
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
  if (values.help) {
    io.out(PLAN_HELP);
    return 0;
  }
  if (values.json && values.markdown) throw new UsageError("--json and --markdown exclude each other");
  const repo = new GitRepo(resolve(values.repo));
  if (!(await repo.resolveCommit(values.head)))
    throw new UsageError(`unknown --head revision "${values.head}" in ${values.repo}`);
  const base = values.base ?? (await repo.resolveCommit(`${values.head}~1`)) ?? undefined;
  if (values.base && !(await repo.resolveCommit(values.base)) && !/^0+$/.test(values.base)) {
    throw new UsageError(`unknown --base revision "${values.base}"`);
  }
  // The hosts file, image planning and the state file are loaded only when asked for: most plans
  // need none of them.
  const hostsFile = values.hosts ? await import("../config/hostsFile.ts") : undefined;
  const inventory = hostsFile && values.hosts ? await hostsFile.loadInventory(values.hosts) : undefined;
  const stateFile = values.state ? await import("../state/stateFile.ts") : undefined;
  const deployed = stateFile && values.state ? await stateFile.loadStateFile(values.state) : undefined;
  // With a hosts file, targets are held against the default branch's rules as a deploy would be.
  const policy = inventory ? await import("../policy/load.ts") : undefined;
  const rules = policy ? await policy.localDefaultBranch(repo) : undefined;
  const sources = sourceFlags(values.source);
  const cache = new ParseCache();
  const mounts = await checkoutMounts(repo, { ...(base ? { base } : {}), head: values.head }, sources, cache);
  const stopWatch = watchBudget(cache, planBudgetMs(), `planning ${values.head}`);
  const ranged = await planRange(
    repo,
    {
      ...(base ? { base } : {}),
      head: values.head,
      mounts,
      ...(hostsFile && inventory ? { hosts: hostsFile.hostRefs(inventory.hosts) } : {}),
      ...(policy && rules
        ? {
            policy: {
              policy: await policy.loadPolicy(repo, rules.branch, rules.ref, parseLimitsFrom()),
              repoId: await repoIdentity(repo),
            },
          }
        : {}),
      ...(deployed ? { deployed } : {}),
      only: { stacks: values.stack ?? [], hosts: values.host ?? [] },
      limits: parseLimitsFrom(),
    },
    cache,
  ).finally(stopWatch);
  // With a hosts file, the plan also says who builds which image and what each host pulls
  // (without build records every image is planned as a build).
  const images = inventory ? await import("../plan/images.ts") : undefined;
  const plan =
    images && inventory
      ? images.planWithImages({
          plan: ranged.plan,
          head: ranged.head,
          inventory,
          repoId: await repoIdentity(repo),
        }).plan
      : ranged.plan;
  if (values.json) io.out(renderJson(plan));
  else if (values.markdown) io.out(renderMarkdown(plan));
  else io.out(renderText(plan, { verbose: !!values.verbose }));
  return plan.ok ? 0 : 1;
}
