/**
 * Submodules and sources for the CLI: read from the checkout's own git data (`.git/modules/...`,
 * as `git submodule update` leaves it) and from local clones named with `--source NAME=DIR`.
 */
import { resolve } from "node:path";
import type { ParseCache } from "../detect/snapshot.ts";
import { CheckoutMountOpener } from "../git/mountOpeners.ts";
import type { GitRepo } from "../git/repo.ts";
import { resolvePlanMounts } from "../plan/planMounts.ts";
import type { PlanMounts } from "../plan/planRange.ts";
import { UsageError } from "./args.ts";

export const SOURCE_OPTION = { type: "string", multiple: true } as const;

export const SOURCE_HELP = `  --source NAME=DIR a local clone of the source NAME (sources: in .github/stackpilot.yml);
                    its checked-out commit is used (repeatable)`;

/** `--source NAME=DIR` flags -> name -> absolute directory. */
export function sourceFlags(values: readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values ?? []) {
    const eq = v.indexOf("=");
    const name = v.slice(0, eq);
    if (eq <= 0 || eq === v.length - 1 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new UsageError(`--source takes NAME=DIR, not ${JSON.stringify(v)}`);
    if (out.has(name)) throw new UsageError(`--source ${name} given twice`);
    out.set(name, resolve(v.slice(eq + 1)));
  }
  return out;
}

/** Both ends' mounts; a `--source` naming no source of the head's config is a usage error. */
export async function checkoutMounts(
  repo: GitRepo,
  range: { base?: string; head: string },
  sources: ReadonlyMap<string, string>,
  cache?: ParseCache,
): Promise<PlanMounts> {
  const mounts = await resolvePlanMounts(repo, range, new CheckoutMountOpener(sources), {
    ...(cache ? { known: (sha: string) => cache.snapshots.has(sha), mergeBases: cache.mergeBases } : {}),
  });
  const declared = new Set(
    [...mounts.head.set.mounts, ...mounts.head.set.failures]
      .filter((m) => m.kind === "source")
      .map((m) => m.name),
  );
  for (const name of sources.keys())
    if (!declared.has(name))
      throw new UsageError(
        `--source ${name}: .github/stackpilot.yml at ${range.head} declares no source of that name`,
      );
  return mounts;
}
