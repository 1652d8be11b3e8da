import { describe, expect, it } from "vitest";
import {
  type AuthorizeInput,
  authorizeDeploy,
  effectivePermission,
  type ReviewFact,
  reviewState,
} from "../../src/policy/authorize.ts";

const SHA = "a".repeat(40);
const OTHER = "b".repeat(40);

function input(over: Partial<AuthorizeInput> = {}, pr: Partial<AuthorizeInput["pr"]> = {}): AuthorizeInput {
  return {
    actor: { login: "alice", type: "User" },
    permission: "write",
    teams: [],
    environment: { name: "production" },
    ...over,
    pr: {
      headRepo: "acme/infra",
      baseRepo: "acme/infra",
      reviews: [],
      headSha: SHA,
      planSha: SHA,
      ...pr,
    },
  };
}

const review = (login: string, state: string, at?: string, assoc = "MEMBER"): ReviewFact => ({
  user: { login },
  state,
  submitted_at: at ?? null,
  author_association: assoc,
});

const reasonOf = (i: AuthorizeInput) => {
  const r = authorizeDeploy(i);
  if (r.ok) throw new Error("expected a denial");
  return r.reason;
};

describe("authorizeDeploy", () => {
  it("allows a writer deploying a fresh plan from a branch of the repository", () => {
    expect(authorizeDeploy(input())).toEqual({ ok: true });
  });

  it("rollback and unlock need no plan of the head, but the same permission and approvals as deploy", () => {
    const env = { name: "production", permission: "maintain" as const, requires: ["approved" as const] };
    for (const action of ["rollback", "unlock"] as const) {
      const approved = [review("bob", "APPROVED", "2026-01-01T00:00:00Z")];
      expect(
        authorizeDeploy(
          input(
            { action, permission: "maintain", environment: env },
            { planSha: undefined, reviews: approved },
          ),
        ),
      ).toEqual({ ok: true });
      expect(
        reasonOf(input({ action, environment: env }, { planSha: undefined, reviews: approved })),
      ).toMatch(
        new RegExp(
          `cannot ${action === "rollback" ? "roll back in" : "unlock in"} production: it needs maintain permission`,
        ),
      );
      expect(
        reasonOf(input({ action, permission: "admin", environment: env }, { planSha: undefined })),
      ).toMatch(/needs an approved pull request/);
    }
  });

  it("never deploys from a fork, whatever the actor's permission", () => {
    expect(reasonOf(input({ permission: "admin" }, { headRepo: "mallory/infra" }))).toMatch(
      /forks cannot be deployed/,
    );
  });

  it("treats a PR whose head repository was deleted as a fork", () => {
    expect(reasonOf(input({}, { headRepo: null }))).toMatch(/forks/);
  });

  it("compares repository names case-insensitively", () => {
    expect(authorizeDeploy(input({}, { headRepo: "Acme/Infra" })).ok).toBe(true);
  });

  it("ignores bots unless allowlisted, in either login form", () => {
    const bot = { login: "renovate[bot]", type: "Bot" };
    expect(reasonOf(input({ actor: bot, permission: "write" }))).toBe(
      "@renovate[bot] is a bot and is not on the list of bots allowed to deploy.",
    );
    expect(authorizeDeploy(input({ actor: bot, permission: "none", botAllowlist: ["renovate"] })).ok).toBe(
      true,
    );
    expect(
      authorizeDeploy(input({ actor: bot, permission: "none", botAllowlist: ["Renovate[bot]"] })).ok,
    ).toBe(true);
  });

  it("recognises a bot by its [bot] login even when the type says User", () => {
    expect(reasonOf(input({ actor: { login: "sneaky[bot]", type: "User" } }))).toMatch(/is a bot/);
  });

  it("still applies the fork, plan and approval rules to allowlisted bots", () => {
    const bot = { login: "ci[bot]", type: "Bot" };
    const base = { actor: bot, botAllowlist: ["ci[bot]"], permission: "none" as const };
    expect(reasonOf(input(base, { headRepo: "x/y" }))).toMatch(/forks/);
    expect(reasonOf(input(base, { planSha: OTHER }))).toMatch(/plan was made for/);
    expect(reasonOf(input({ ...base, environment: { name: "prod", requires: ["approved"] } }))).toMatch(
      /approval/,
    );
  });

  it("requires write by default, and counts maintain and admin as at least write", () => {
    for (const p of ["read", "triage", "none"] as const)
      expect(reasonOf(input({ permission: p }))).toBe(
        `@alice cannot deploy to production: it needs write permission on this repository (@alice has ${p}).`,
      );
    for (const p of ["write", "maintain", "admin"] as const)
      expect(authorizeDeploy(input({ permission: p })).ok).toBe(true);
  });

  it("applies the environment's stricter permission", () => {
    const env = { name: "production", permission: "admin" as const };
    expect(reasonOf(input({ permission: "maintain", environment: env }))).toMatch(/needs admin permission/);
    expect(authorizeDeploy(input({ permission: "admin", environment: env })).ok).toBe(true);
  });

  it("lets a member of one of the environment's teams deploy without the permission", () => {
    const env = { name: "production", permission: "admin" as const, teams: ["acme/SRE", "acme/ops"] };
    expect(authorizeDeploy(input({ permission: "read", teams: ["acme/sre"], environment: env })).ok).toBe(
      true,
    );
    expect(reasonOf(input({ permission: "read", teams: ["acme/dev"], environment: env }))).toBe(
      "@alice cannot deploy to production: it needs admin permission on this repository or membership of acme/SRE, acme/ops (@alice has read).",
    );
  });

  it("refuses a plan made for an older head (a push after the plan)", () => {
    expect(reasonOf(input({}, { planSha: OTHER }))).toBe(
      "The plan was made for bbbbbbb but the pull request's head is now aaaaaaa: wait for the new plan (or comment `/plan`) and deploy again.",
    );
  });

  it("refuses when there is no plan for the head yet", () => {
    expect(reasonOf(input({}, { planSha: undefined }))).toMatch(/no plan for the current head/);
  });

  describe("requires: [approved]", () => {
    const env = { name: "production", requires: ["approved" as const] };

    it("refuses without any approval", () => {
      expect(reasonOf(input({ environment: env }))).toBe(
        "production needs an approved pull request: it has no approval yet.",
      );
    });

    it("allows with one approval", () => {
      expect(authorizeDeploy(input({ environment: env }, { reviews: [review("bob", "APPROVED")] })).ok).toBe(
        true,
      );
    });

    it("refuses while anyone's latest review requests changes, even with other approvals", () => {
      const reviews = [review("bob", "APPROVED"), review("carol", "CHANGES_REQUESTED")];
      expect(reasonOf(input({ environment: env }, { reviews }))).toBe(
        "production needs an approved pull request, and changes are requested by @carol.",
      );
    });

    it("counts only each reviewer's latest review, by submission time", () => {
      const reviews = [
        review("carol", "APPROVED", "2024-01-02T00:00:00Z"),
        review("carol", "CHANGES_REQUESTED", "2024-01-01T00:00:00Z"),
      ];
      expect(authorizeDeploy(input({ environment: env }, { reviews })).ok).toBe(true);
      const later = [
        review("carol", "CHANGES_REQUESTED", "2024-01-02T00:00:00Z"),
        review("carol", "APPROVED", "2024-01-01T00:00:00Z"),
      ];
      expect(reasonOf(input({ environment: env }, { reviews: later }))).toMatch(
        /changes are requested by @carol/,
      );
    });

    it("drops an approval that was later dismissed", () => {
      const reviews = [review("bob", "APPROVED"), review("bob", "DISMISSED")];
      expect(reasonOf(input({ environment: env }, { reviews }))).toMatch(/no approval yet/);
    });

    it("ignores reviews from people without a role in the repository", () => {
      const reviews = [
        review("stranger", "APPROVED", undefined, "NONE"),
        review("fan", "APPROVED", undefined, "CONTRIBUTOR"),
      ];
      expect(reasonOf(input({ environment: env }, { reviews }))).toMatch(/no approval yet/);
    });
  });
});

describe("reviewState", () => {
  it("lets a later comment neither withdraw an approval nor settle requested changes", () => {
    const state = reviewState([
      review("bob", "APPROVED"),
      review("bob", "COMMENTED"),
      review("carol", "CHANGES_REQUESTED"),
      review("carol", "COMMENTED"),
    ]);
    expect(state).toEqual({ approvedBy: ["bob"], changesRequestedBy: ["carol"] });
  });

  it("treats logins case-insensitively and skips reviews of deleted users", () => {
    const state = reviewState([
      review("Bob", "CHANGES_REQUESTED"),
      review("bob", "APPROVED"),
      { user: null, state: "CHANGES_REQUESTED", author_association: "MEMBER" },
    ]);
    expect(state).toEqual({ approvedBy: ["bob"], changesRequestedBy: [] });
  });

  it("counts a review without author_association as one by someone without a role", () => {
    const { author_association: _, ...unknown } = review("dave", "APPROVED");
    expect(
      reviewState([unknown, { ...review("erin", "CHANGES_REQUESTED"), author_association: null }]),
    ).toEqual({
      approvedBy: [],
      changesRequestedBy: [],
    });
    const env = { name: "production", requires: ["approved" as const] };
    expect(reasonOf(input({ environment: env }, { reviews: [unknown] }))).toMatch(/no approval yet/);
  });
});

describe("effectivePermission", () => {
  it("prefers a built-in role name, falls back to the legacy field, and defaults to none", () => {
    expect(effectivePermission({ permission: "write", role_name: "maintain" })).toBe("maintain");
    expect(effectivePermission({ permission: "read", role_name: "triage" })).toBe("triage");
    expect(effectivePermission({ permission: "write", role_name: "deployer-custom" })).toBe("write");
    expect(effectivePermission({ permission: "weird" })).toBe("none");
    expect(effectivePermission({})).toBe("none");
  });
});
