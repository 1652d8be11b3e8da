/**
 * The database locks a deploy takes (a target's `deploy:<repo>:<stack>:<host>`, a build's): their
 * lease, how a target busy with another deploy is waited for, and who is named as their holder.
 */
import type { DeployTrigger } from "../state/deployments.ts";
import type { LockWait } from "../state/locks.ts";

/**
 * Short, so that a deployer that died is noticed (and its deployment recovered) well within a
 * minute; heartbeats renew it every third of it.
 */
export const DB_LOCK_TTL_MS = 30_000;

/**
 * A target busy with another deploy is waited for (polling its lock), up to this long; meanwhile,
 * or once the lock is ours, a newer deployment queued for the same target supersedes this one.
 */
export const TARGET_WAIT: LockWait = { pollMs: 1_000, maxMs: 15 * 60_000 };

/** Who holds locks and releases: the actor and why, e.g. `alice (command)`. */
export const holderOf = (input: { actor: string; trigger: DeployTrigger }) =>
  `${input.actor} (${input.trigger})`;
