// The PR's Stackpilot comment: the plan section and the last-deploy section, each written on its
// own, keeping the other; the whole within GitHub's 65,535 characters.
import { describe, expect, it, vi } from "vitest";
import {
  composeLastRun,
  composePlan,
  DEPLOY_SECTION_LIMIT,
  type LastRun,
  showLastRun,
  showPlan,
} from "../../src/github/api/prComment.ts";
import { COMMENT_LIMIT, parseSections } from "../../src/github/api/stickyComment.ts";
import type { JobContext } from "../../src/github/jobs/jobContext.ts";
import type { DeployResult } from "../../src/github/render/checkRun.ts";
import type { Plan, StackPlan } from "../../src/plan/plan.ts";
import { PLAN_MARKER } from "../../src/plan/render/markdown.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";
import { memoryGitHub } from "./memoryGitHub.ts";

const backends = useStateBackends();

const A = "a".repeat(40);
const B = "b".repeat(40);
const AT = new Date("2026-03-01T12:34:56Z");

function stack(
  name: string,
  hosts = ["app1"],
  reasons = [`stacks/${name}/compose.yaml modified`],
): StackPlan {
  return {
    name,
    path: `stacks/${name}`,
    changed: true,
    contentChanged: true,
    reasons,
    files: [],
    targets: hosts.map((host) => ({ host, action: "deploy" as const, reasons: ["content changed"] })),
  };
}

function plan(head: string, stacks: StackPlan[]): Plan {
  const deploy = stacks.reduce((n, s) => n + s.targets.length, 0);
  return {
    version: 1,
    base: "0".repeat(40),
    head,
    ok: true,
    deployable: true,
    problems: [],
    stacks,
    summary: { stacks: stacks.length, changed: stacks.length, broken: 0, deploy, skip: 0, remove: 0 },
  };
}

const row = (stackName: string, host: string, ok = true): DeployResult => ({
  stack: stackName,
  host,
  action: "deploy",
  status: "completed",
  conclusion: ok ? "success" : "failure",
  durationMs: 1234,
  ...(ok ? {} : { error: "app1: `docker-compose up` exited with 1:\nno space left on device" }),
});

const deployOf = (
  sha: string,
  results: DeployResult[],
  refused?: string,
): Extract<LastRun, { kind: "deploy" }> => ({
  kind: "deploy",
  sha,
  actor: "octocat",
  at: AT,
  environments: [{ name: "production", results }, ...(refused ? [{ name: "edge", refused }] : [])],
});

const names = (body: string) => parseSections(body, PLAN_MARKER).map((s) => s.name);

describe("the plan section", () => {
  it("is the whole comment at first, under the marker", () => {
    const body = composePlan(undefined, plan(A, [stack("web")]));
    expect(
      body.startsWith(`${PLAN_MARKER}\n<!-- stackpilot:section plan sha=${A} -->\n### Stackpilot plan`),
    ).toBe(true);
    expect(body.match(/stackpilot:plan/g)).toHaveLength(1);
    expect(names(body)).toEqual(["plan"]);
  });

  it("replaces a comment written before sections existed (the plan alone) instead of keeping it", () => {
    const legacy = `${PLAN_MARKER}\n### Stackpilot plan \`0000000..1111111\`\n\nold rows\n`;
    const body = composePlan(legacy, plan(A, [stack("web")]));
    expect(body).not.toContain("old rows");
    expect(names(body)).toEqual(["plan"]);
  });

  it("keeps the last deploy below it; a deploy of another commit says which", () => {
    const deployed = composeLastRun(
      composePlan(undefined, plan(A, [stack("web")])),
      deployOf(A, [row("web", "app1")]),
    );
    const samePlan = composePlan(deployed, plan(A, [stack("web")]));
    expect(names(samePlan)).toEqual(["plan", "deploy"]);
    expect(samePlan).toContain("| `web` | `app1` | deploy | ✅ success |");
    expect(samePlan).not.toContain("_Note:");

    const newPush = composePlan(samePlan, plan(B, [stack("web"), stack("api")]));
    expect(names(newPush)).toEqual(["plan", "deploy"]);
    expect(newPush).toContain(
      `_Note: this was of \`${A.slice(0, 7)}\`; the plan above is of \`${B.slice(0, 7)}\`._`,
    );
    expect(newPush).toContain("`api`");
    // Notes are replaced, never stacked.
    const again = composePlan(newPush, plan(B, [stack("web")]));
    expect(again.match(/_Note:/g)).toHaveLength(1);
  });
});

describe("the last-deploy section", () => {
  it("lists every stack × host with its outcome, the refused environments, and keeps the plan noted as earlier", () => {
    const planned = composePlan(undefined, plan(A, [stack("web", ["app1", "app2"])]));
    const body = composeLastRun(
      planned,
      deployOf(A, [row("web", "app1"), row("web", "app2", false)], "edge needs an approved pull request"),
    );
    expect(names(body)).toEqual(["plan", "deploy"]);
    const [planSection, deploy] = parseSections(body, PLAN_MARKER);
    expect(planSection?.text.startsWith("_Note: planned before the deploy below")).toBe(true);
    expect(deploy?.attrs).toEqual({ sha: A });
    expect(deploy?.text).toContain(`### Last deploy: \`${A.slice(0, 7)}\` by @octocat`);
    expect(deploy?.text).toContain("_2026-03-01 12:34 UTC_");
    expect(deploy?.text).toContain("**production**: 1 of 2 deployed, 1 failed");
    expect(deploy?.text).toContain("| `web` | `app1` | deploy | ✅ success | 1.2 s |  |");
    expect(deploy?.text).toMatch(
      /\| `web` \| `app2` \| deploy \| ❌ failure \| 1\.2 s \| .*no space left on device/,
    );
    expect(deploy?.text).toContain("**edge**: refused: edge needs an approved pull request");
  });

  it("a merge's deploy says so and notes that the plan was of the PR's head", () => {
    const planned = composePlan(undefined, plan(A, [stack("web")]));
    const body = composeLastRun(planned, { ...deployOf(B, [row("web", "app1")]), trigger: "merge" });
    const [planSection, deploy] = parseSections(body, PLAN_MARKER);
    expect(
      planSection?.text.startsWith(
        `_Note: planned before the merge; the deploy below is of the merge commit \`${B.slice(0, 7)}\`._`,
      ),
    ).toBe(true);
    expect(deploy?.attrs).toEqual({ sha: B });
    expect(deploy?.text).toContain(`### Last deploy: \`${B.slice(0, 7)}\` on merge by @octocat`);
    expect(deploy?.text).toContain("| `web` | `app1` | deploy | ✅ success |");
  });

  it("a newer deploy replaces the older one; a rollback replaces a deploy", () => {
    const first = composeLastRun(undefined, deployOf(A, [row("web", "app1")]));
    const second = composeLastRun(first, deployOf(B, [row("api", "app1")]));
    expect(names(second)).toEqual(["deploy"]);
    expect(second).not.toContain("`web`");
    const rolled = composeLastRun(second, {
      kind: "rollback",
      stack: "api",
      actor: "octocat",
      at: AT,
      hosts: [
        { host: "app1", from: B, to: A },
        { host: "app2", from: B, error: "app2: no earlier release of api on app2 to roll back to" },
      ],
    });
    expect(rolled).toContain("### Last rollback: `api` by @octocat");
    expect(rolled).toContain(
      `| \`app1\` | \`${B.slice(0, 7)}\` | \`${A.slice(0, 7)}\` | ✅ rolled back, pinned |`,
    );
    expect(rolled).toContain(
      "| `app2` | `bbbbbbb` |  | ❌ app2: no earlier release of api on app2 to roll back to |",
    );
    expect(rolled).not.toContain("### Last deploy");
  });

  it("whatever is written last, a huge plan and a huge deploy stay within 65,535 characters, both shown", () => {
    const reasons = Array.from({ length: 20 }, (_, i) => `stacks/s/file-${i}-${"x".repeat(200)} modified`);
    const hugePlan = plan(
      A,
      Array.from({ length: 400 }, (_, i) => stack(`stack-${i}`, ["app1", "app2", "app3"], reasons)),
    );
    const hugeDeploy = deployOf(
      A,
      Array.from({ length: 3000 }, (_, i) => row(`stack-${i}`, `host-${i % 50}`, i % 7 !== 0)),
    );
    for (const body of [
      composeLastRun(composePlan(undefined, hugePlan), hugeDeploy),
      composePlan(composeLastRun(undefined, hugeDeploy), hugePlan),
      composePlan(composePlan(composeLastRun(undefined, hugeDeploy), hugePlan), hugePlan),
    ]) {
      expect(body.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expect(names(body)).toEqual(["plan", "deploy"]);
      const deploy = parseSections(body, PLAN_MARKER)[1];
      expect(deploy?.text.length).toBeLessThanOrEqual(DEPLOY_SECTION_LIMIT + 200);
      expect(deploy?.text).toMatch(/more rows did not fit/);
      expect(body).toMatch(/did not fit; run `stackpilot plan` for the full plan/);
    }
  });
});

describe("two jobs of one PR at once", () => {
  it("a push's plan, a /plan and a /deploy's results racing: one comment, holding the last plan and the deploy", async () => {
    const gh = memoryGitHub(() => Math.floor(Math.random() * 3));
    const ctx = jobContext(gh, await backends[0]?.sharedStore());
    await Promise.all([
      showPlan(ctx, 1, plan(A, [stack("web")])),
      showPlan(ctx, 1, plan(B, [stack("api")])),
      showLastRun(ctx, 1, deployOf(A, [row("web", "app1")])),
    ]);
    expect(gh.calls.filter((c) => c === "create")).toHaveLength(1);
    const all = [...gh.comments.values()];
    expect(all).toHaveLength(1);
    const body = all[0]?.body ?? "";
    expect(names(body)).toEqual(["plan", "deploy"]);
    expect(body).toContain("`api`"); // the later plan
    expect(body).toContain("| `web` | `app1` | deploy | ✅ success |");
  });
});

describe("two replicas on one Postgres database", () => {
  it("writing different sections of one PR's comment at the same instant: both sections land", async () => {
    const postgres = backends.find((b) => b.name === "postgres");
    if (!postgres) throw new Error("no postgres backend");
    const location = await postgres.newDatabase();
    const store = await postgres.openStore(location);
    // The modules loaded twice, each replica with its own store: two processes sharing the database.
    vi.resetModules();
    const other = (await import(
      "../../src/github/api/prComment.ts"
    )) as typeof import("../../src/github/api/prComment.ts");
    const otherState = (await import(
      "../../src/state/store.ts"
    )) as typeof import("../../src/state/store.ts");
    expect(other.showLastRun).not.toBe(showLastRun);
    const otherStore = await otherState.openStore(location);
    try {
      for (let seed = 1; seed <= 10; seed++) {
        let x = seed;
        const gh = memoryGitHub(() => {
          x = (x * 1103515245 + 12345) % 2147483648;
          return x % 4;
        });
        await showPlan(jobContext(gh, store), seed, plan(A, [stack("web")]));
        await Promise.all([
          showPlan(jobContext(gh, store), seed, plan(B, [stack("api")])),
          other.showLastRun(jobContext(gh, otherStore), seed, deployOf(A, [row("web", "app1")])),
        ]);
        const body = [...gh.comments.values()].map((c) => c.body).join("\n");
        expect(names(body), `seed ${seed}`).toEqual(["plan", "deploy"]);
        expect(body, `seed ${seed}`).toContain("`api`");
        expect(body, `seed ${seed}`).toContain("| `web` | `app1` | deploy | ✅ success |");
      }
      expect(await store.listLocks()).toEqual([]);
    } finally {
      await otherStore.close();
    }
  });
});

function jobContext(gh: ReturnType<typeof memoryGitHub>, store: unknown): JobContext {
  return {
    octokit: gh.client,
    owner: "acme",
    repo: "infra",
    ref: { fullName: "acme/infra" },
    deps: { appSlug: "stackpilot", store },
  } as unknown as JobContext;
}
