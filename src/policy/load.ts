/**
 * Reading the rules from git: the repository config at the tip of the default branch, never at the
 * commit being deployed (see policy.ts).
 */
import { loadRepoConfig } from "../config/repoConfig.ts";
import { CONFIG_PATH } from "../config/repoConfigSchema.ts";
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from "../detect/blobReader.ts";
import type { GitRepo } from "../git/repo.ts";
import { FULL_SHA } from "../git/sha.ts";
import { type Policy, policyFromConfig } from "./policy.ts";

/** Policies by commit: a commit's config never changes. Bounded, oldest out first. */
const memo = new Map<string, Policy>();
const MEMO_MAX = 32;

/**
 * The rules at `ref` (e.g. `refs/heads/main`), named `branch` in messages. A branch without a
 * config file has the default rules; a config with errors gives a policy that refuses every deploy
 * (see policyBroken) rather than falling back to anything the change could influence.
 */
export async function loadPolicy(
  repo: GitRepo,
  branch: string,
  ref = `refs/heads/${branch}`,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
): Promise<Policy> {
  // A commit id read before needs no git process: a commit's config never changes.
  const seen = FULL_SHA.test(ref) ? memo.get(ref) : undefined;
  if (seen) return { ...seen, branch };
  const commit = await repo.resolveCommit(ref);
  if (!commit) return policyFromConfig(loadRepoConfig(undefined).config, { branch });
  const known = memo.get(commit);
  if (known) return { ...known, branch };
  const name = `${commit}:${CONFIG_PATH}`;
  const { blobs, tooLarge } = await repo.readBlobsWithin([name], limits.maxFileBytes);
  const size = tooLarge.get(name);
  const loaded = size === undefined ? loadRepoConfig(blobs.get(name)?.toString("utf8")) : undefined;
  const problems = loaded?.problems ?? [
    {
      file: CONFIG_PATH,
      line: 1,
      col: 1,
      key: "",
      message: `is ${size} bytes on ${branch}, over the ${limits.maxFileBytes}-byte limit for files Stackpilot parses`,
      severity: "error" as const,
    },
  ];
  const config = loaded?.config ?? loadRepoConfig(undefined).config;
  const policy = policyFromConfig(config, { branch, commit }, problems);
  memo.set(commit, policy);
  if (memo.size > MEMO_MAX) memo.delete(memo.keys().next().value as string);
  return policy;
}

/**
 * The default branch of a local checkout, for the CLI: where `origin/HEAD` points, else `main`,
 * else `master`; a checkout with none of them reads the rules at HEAD (and says so).
 */
export async function localDefaultBranch(repo: GitRepo): Promise<{ branch: string; ref: string }> {
  for (const [branch, ref] of [
    ["origin/HEAD", "refs/remotes/origin/HEAD"],
    ["main", "refs/heads/main"],
    ["master", "refs/heads/master"],
  ] as const) {
    if (await repo.resolveCommit(ref)) return { branch, ref };
  }
  return { branch: "HEAD (no default branch found)", ref: "HEAD" };
}
