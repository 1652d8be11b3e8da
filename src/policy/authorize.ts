/**
 * May this person deploy this PR to this environment? Pure: the caller fetches the facts
 * (collaborator permission, team memberships, reviews, the PR's head) and this decides.
 *
 * GitHub's environment protection rules do not gate deployments created through the API, so
 * these rules are the only gate: deny unless every rule passes, with a sentence saying why.
 */
import type { EnvironmentConfig, Permission } from "../config/repoConfigSchema.ts";

/** From `GET /repos/{o}/{r}/collaborators/{user}/permission`. */
export type RepoPermission = "admin" | "maintain" | "write" | "triage" | "read" | "none";

export interface ReviewFact {
  user: { login: string } | null;
  /** APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED (PENDING reviews are not submitted). */
  state: string;
  /** ISO time; reviews without one keep their order in the list (the API lists oldest first). */
  submitted_at?: string | null;
  /** OWNER, MEMBER, COLLABORATOR count; anyone can review a public repository's PR. Missing: no role. */
  author_association?: string | null;
}

export interface AuthorizeInput {
  /** `deploy` is bound to a plan of the PR's head; `rollback` and `unlock` act on what runs. */
  action?: "deploy" | "rollback" | "unlock";
  actor: { login: string; type: "User" | "Bot" | "Organization" | (string & {}) };
  /** Bot logins allowed to deploy (`name[bot]` or `name`). */
  botAllowlist?: readonly string[];
  /** The actor's repository permission; see `effectivePermission`. */
  permission: RepoPermission;
  /** The actor's teams as `org/team` slugs. */
  teams?: readonly string[];
  environment: { name: string } & Partial<Pick<EnvironmentConfig, "permission" | "teams" | "requires">>;
  pr: {
    /** `owner/name` of the PR's head repository; null when the fork was deleted. */
    headRepo: string | null;
    /** `owner/name` of the repository the PR targets. */
    baseRepo: string;
    reviews: readonly ReviewFact[];
    /** The PR's head SHA now. */
    headSha: string;
    /** The head SHA the plan being deployed was made for; undefined when there is none (deploy only). */
    planSha?: string | undefined;
  };
}

export type AuthorizeResult = { ok: true } | { ok: false; reason: string };

const VERB = { deploy: "deploy to", rollback: "roll back in", unlock: "unlock in" } as const;
const RANK: Record<RepoPermission, number> = { none: 0, read: 1, triage: 2, write: 3, maintain: 4, admin: 5 };
const TRUSTED_REVIEWERS = new Set(["OWNER", "MEMBER", "COLLABORATOR"]);

/**
 * The permission to pass in, from the collaborator-permission response: `role_name` when it is a
 * built-in role (it tells maintain and triage apart), else the legacy `permission` field (custom
 * roles report their base there). Anything unrecognised is `none`.
 */
export function effectivePermission(res: {
  permission?: string | null;
  role_name?: string | null;
}): RepoPermission {
  const role = res.role_name?.toLowerCase();
  if (role && role in RANK) return role as RepoPermission;
  const legacy = res.permission?.toLowerCase();
  if (legacy && legacy in RANK) return legacy as RepoPermission;
  return "none";
}

/** Check every rule; the first that fails is the reason. */
export function authorizeDeploy(input: AuthorizeInput): AuthorizeResult {
  const { environment: env, pr } = input;

  if (!pr.headRepo || pr.headRepo.toLowerCase() !== pr.baseRepo.toLowerCase())
    return deny(
      "Pull requests from forks cannot be deployed: merge the change into a branch of this repository first.",
    );

  const permitted = authorizePermission(input);
  if (!permitted.ok) return permitted;

  if ((input.action ?? "deploy") === "deploy") {
    if (!pr.planSha)
      return deny(
        "There is no plan for the current head commit yet: comment `/plan` and deploy after it finishes.",
      );
    if (pr.planSha !== pr.headSha)
      return deny(
        `The plan was made for ${pr.planSha.slice(0, 7)} but the pull request's head is now ${pr.headSha.slice(0, 7)}: wait for the new plan (or comment \`/plan\`) and deploy again.`,
      );
  }

  if ((env.requires ?? []).includes("approved")) {
    const { approvedBy, changesRequestedBy } = reviewState(pr.reviews);
    if (changesRequestedBy.length)
      return deny(
        `${env.name} needs an approved pull request, and changes are requested by ${changesRequestedBy.map((l) => `@${l}`).join(", ")}.`,
      );
    if (approvedBy.length === 0)
      return deny(`${env.name} needs an approved pull request: it has no approval yet.`);
  }
  return { ok: true };
}

export type PermissionInput = Pick<
  AuthorizeInput,
  "action" | "actor" | "botAllowlist" | "permission" | "teams" | "environment"
>;

/**
 * The permission rules alone (bots, the environment's `permission` and `teams`): what every
 * action needs, from a pull request or not (the web UI's Unlock has no pull request).
 */
export function authorizePermission(input: PermissionInput): AuthorizeResult {
  const { actor, environment: env } = input;
  const who = `@${actor.login}`;
  const isBot = actor.type === "Bot" || actor.login.toLowerCase().endsWith("[bot]");
  const allowedBot = isBot && botAllowed(actor.login, input.botAllowlist ?? []);
  if (isBot && !allowedBot) return deny(`${who} is a bot and is not on the list of bots allowed to deploy.`);
  // Allowlisted bots skip the permission check: the collaborator API has no answer for most apps.
  if (allowedBot) return { ok: true };
  const needed: Permission = env.permission ?? "write";
  const teams = env.teams ?? [];
  const hasPermission = RANK[input.permission] >= RANK[needed];
  const mine = new Set((input.teams ?? []).map((t) => t.toLowerCase()));
  const inTeam = teams.some((t) => mine.has(t.toLowerCase()));
  if (!hasPermission && !inTeam)
    return deny(
      `${who} cannot ${VERB[input.action ?? "deploy"]} ${env.name}: it needs ${needed} permission on this repository` +
        (teams.length ? ` or membership of ${teams.join(", ")}` : "") +
        ` (${who} has ${input.permission}).`,
    );
  return { ok: true };
}

/**
 * Each reviewer's standing, as GitHub's review decision computes it: the latest APPROVED or
 * CHANGES_REQUESTED review counts, a later DISMISSED one clears it, and COMMENTED reviews change
 * nothing (a comment neither withdraws an approval nor settles requested changes). Reviews from
 * people without a role in the repository are ignored.
 */
export function reviewState(reviews: readonly ReviewFact[]): {
  approvedBy: string[];
  changesRequestedBy: string[];
} {
  const times = reviews.map((r) => (r.submitted_at ? Date.parse(r.submitted_at) : Number.NaN));
  // Sorted by time when every review has one (a stable sort keeps list order for ties).
  const ordered = times.some(Number.isNaN)
    ? [...reviews]
    : reviews
        .map((r, i) => ({ r, t: times[i] as number }))
        .sort((a, b) => a.t - b.t)
        .map((x) => x.r);
  const latest = new Map<string, { login: string; state: "APPROVED" | "CHANGES_REQUESTED" | undefined }>();
  for (const r of ordered) {
    if (!r.user || !TRUSTED_REVIEWERS.has(r.author_association?.toUpperCase() ?? "")) continue;
    const key = r.user.login.toLowerCase();
    const state = r.state.toUpperCase();
    if (state === "APPROVED" || state === "CHANGES_REQUESTED")
      latest.set(key, { login: r.user.login, state });
    else if (state === "DISMISSED") latest.set(key, { login: r.user.login, state: undefined });
  }
  const by = (s: string) => [...latest.values()].filter((v) => v.state === s).map((v) => v.login);
  return { approvedBy: by("APPROVED"), changesRequestedBy: by("CHANGES_REQUESTED") };
}

function botAllowed(login: string, allowlist: readonly string[]): boolean {
  const bare = (s: string) => s.toLowerCase().replace(/\[bot\]$/, "");
  return allowlist.some((a) => bare(a) === bare(login));
}

function deny(reason: string): AuthorizeResult {
  return { ok: false, reason };
}
