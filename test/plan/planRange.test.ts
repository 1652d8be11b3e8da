import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import type { DeployedRecord, Plan } from "../../src/plan/plan.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const changedNames = (plan: Plan) => plan.stacks.filter((s) => s.changed).map((s) => s.name);
const target = (plan: Plan, stack: string, host: string) =>
  plan.stacks.find((s) => s.name === stack)?.targets.find((t) => t.host === host);

describe("the example monorepo", () => {
  let dir: string;
  let repo: GitRepo;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sp-fixture-"));
    execFileSync("sh", ["fixtures/build-monorepo.sh", join(dir, "repo")]);
    repo = new GitRepo(join(dir, "repo"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("discovers every stack under stacks/* and services/*", async () => {
    const { head } = await planRange(repo, { base: "HEAD~1", head: "HEAD" });
    expect([...head.stacks.keys()].sort()).toEqual([
      "adguardhome",
      "authelia",
      "logging",
      "monitoring",
      "webapp",
      "whoami",
    ]);
    expect(head.problems).toEqual([]);
    expect([...head.stacks.values()].flatMap((s) => s.problems)).toEqual([]);
  });

  it("marks only webapp when its build context outside the stack changes", async () => {
    const { plan } = await planRange(repo, { base: "HEAD~3", head: "HEAD~2" });
    expect(changedNames(plan)).toEqual(["webapp"]);
    expect(plan.stacks.find((s) => s.name === "webapp")?.reasons).toEqual([
      "apps/webapp/index.html modified (build context of service web)",
    ]);
  });

  it("marks the stack that watches a glob", async () => {
    const { plan } = await planRange(repo, { base: "HEAD~2", head: "HEAD~1" });
    expect(changedNames(plan)).toEqual(["monitoring"]);
  });

  it("marks every stack referencing a shared env file, directly or through include", async () => {
    const { plan } = await planRange(repo, { base: "HEAD~1", head: "HEAD" });
    expect(changedNames(plan)).toEqual(["adguardhome", "authelia", "logging", "monitoring"]);
    const logging = plan.stacks.find((s) => s.name === "logging");
    expect(logging?.reasons).toEqual(["shared/common.env modified (env_file of service logshipper)"]);
  });

  it("resolves label selectors against the hosts inventory", async () => {
    const hosts = [
      { name: "app-1", labels: { role: "app" } },
      { name: "app-2", labels: { role: "app" } },
      { name: "edge-1", labels: { role: "edge" } },
    ];
    const { plan } = await planRange(repo, { base: "HEAD~1", head: "HEAD", hosts });
    const authelia = plan.stacks.find((s) => s.name === "authelia");
    expect(authelia?.targets.map((t) => [t.host, t.action])).toEqual([
      ["app-1", "deploy"],
      ["app-2", "deploy"],
    ]);
    expect(plan.stacks.find((s) => s.name === "adguardhome")?.targets.map((t) => t.host)).toEqual(["edge-1"]);
    expect(plan.stacks.find((s) => s.name === "monitoring")?.targets).toHaveLength(3);
    expect(target(plan, "whoami", "app-1")).toMatchObject({ action: "skip", reasons: ["unchanged"] });
  });
});

describe("deploy-if-changed against deployed state", () => {
  const repos: TestRepo[] = [];
  afterEach(() => {
    for (const r of repos.splice(0)) r.remove();
  });
  const setup = () => {
    const t = new TestRepo();
    repos.push(t);
    t.write({
      ".github/stackpilot.yml":
        "stacks:\n  - name: web\n    hosts: [h1, h2]\n  - name: db\n    hosts: [h1]\n",
      "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:1\n",
      "stacks/db/compose.yaml": "services:\n  db:\n    image: postgres:16\n",
    });
    return t;
  };

  it("skips a host whose deployed fingerprint is identical, even when the range changed the stack (a revert)", async () => {
    const t = setup();
    const c1 = t.commit();
    const { head: first } = await planRange(new GitRepo(t.dir), { head: c1 });
    const fp = first.stacks.get("web")?.fingerprint ?? "";
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:2\n" }).commit();
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:1\n" }).commit("revert");
    const deployed: DeployedRecord[] = [{ stack: "web", host: "h1", fingerprint: fp, commit: c1 }];
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD", deployed });
    expect(target(plan, "web", "h1")).toMatchObject({
      action: "skip",
      reasons: [`identical to what is deployed at ${c1.slice(0, 7)}`],
    });
    expect(target(plan, "web", "h2")).toMatchObject({ action: "deploy" });
    expect(target(plan, "web", "h2")?.reasons[0]).toBe("never deployed to h2");
  });

  it("deploys a stack that did not change in the range when the host still runs something else (a failed deploy)", async () => {
    const t = setup();
    const c1 = t.commit();
    const { head: first } = await planRange(new GitRepo(t.dir), { head: c1 });
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:2\n" }).commit();
    t.write({ "README.md": "docs\n" }).commit();
    const deployed: DeployedRecord[] = [
      { stack: "web", host: "h1", fingerprint: first.stacks.get("web")?.fingerprint ?? "", commit: c1 },
    ];
    const { plan } = await planRange(new GitRepo(t.dir), {
      base: "HEAD~1",
      head: "HEAD",
      deployed,
      only: { hosts: ["h1"] },
    });
    expect(target(plan, "web", "h1")).toMatchObject({
      action: "deploy",
      reasons: [`differs from what is deployed at ${c1.slice(0, 7)}`],
    });
  });

  it("leaves a stack pinned by a rollback alone unless forced", async () => {
    const t = setup();
    const c1 = t.commit();
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:3\n" }).commit();
    const deployed: DeployedRecord[] = [
      { stack: "web", host: "h1", fingerprint: "sha256:old", commit: c1, pinned: true },
    ];
    const plan1 = (await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD", deployed })).plan;
    expect(target(plan1, "web", "h1")?.action).toBe("skip");
    expect(target(plan1, "web", "h1")?.reasons[0]).toContain("pinned by a rollback");
    const plan2 = (
      await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD", deployed, force: true })
    ).plan;
    expect(target(plan2, "web", "h1")?.action).toBe("deploy");
  });

  it("never starts a stack stopped on purpose, even forced, and says so", async () => {
    const t = setup();
    const c1 = t.commit();
    t.write({ "stacks/web/compose.yaml": "services:\n  web:\n    image: nginx:3\n" }).commit();
    const deployed: DeployedRecord[] = [{ stack: "web", host: "h1", fingerprint: "sha256:old", commit: c1 }];
    const stopped = [{ stack: "web", host: "h1", actor: "alice" }];
    for (const force of [false, true]) {
      const { plan } = await planRange(new GitRepo(t.dir), {
        base: "HEAD~1",
        head: "HEAD",
        deployed,
        stopped,
        force,
      });
      expect(target(plan, "web", "h1")).toMatchObject({
        action: "skip",
        reasons: ["stopped on purpose by alice; `stackpilot start web` undoes it"],
      });
    }
    const started = (await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD", deployed })).plan;
    expect(target(started, "web", "h1")?.action).toBe("deploy");
  });

  it("plans remove for a deleted stack with prune, and a warning without", async () => {
    const t = setup();
    t.write({
      ".github/stackpilot.yml":
        "stacks:\n  - name: web\n    hosts: [h1, h2]\n    prune: true\n  - name: db\n    hosts: [h1]\n",
    }).commit();
    t.write({ "stacks/web": null, "stacks/db": null }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    expect(plan.stacks.find((s) => s.name === "web")?.targets.map((t) => t.action)).toEqual([
      "remove",
      "remove",
    ]);
    expect(target(plan, "db", "h1")?.action).toBe("skip");
    expect(
      plan.problems.some(
        (p) => p.severity === "warning" && p.message.includes('"db" was deleted but prune is off'),
      ),
    ).toBe(true);
  });

  it("a config change affects only the stacks whose effective config changed", async () => {
    const t = setup();
    t.commit();
    t.write({
      ".github/stackpilot.yml":
        "stacks:\n  - name: web\n    hosts: [h1, h2]\n    project_name: website\n  - name: db\n    hosts: [h1]\n",
    }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    expect(changedNames(plan)).toEqual(["web"]);
    expect(plan.stacks.find((s) => s.name === "web")?.reasons).toEqual(["config changed: projectName"]);
  });

  it("deploys only to a newly added host when only the targets changed", async () => {
    const t = setup();
    t.commit();
    t.write({
      ".github/stackpilot.yml":
        "stacks:\n  - name: web\n    hosts: [h1, h2]\n  - name: db\n    hosts: [h1, h3]\n",
    }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    const db = plan.stacks.find((s) => s.name === "db");
    expect(db?.contentChanged).toBe(false);
    expect(db?.targets.map((x) => [x.host, x.action])).toEqual([
      ["h1", "skip"],
      ["h3", "deploy"],
    ]);
  });

  it("renames count on both sides", async () => {
    const t = setup();
    t.write({
      "stacks/web/config/app.conf": "a long enough line of configuration to be detected as a rename\n",
    }).commit();
    t.git("mv", "stacks/web/config/app.conf", "stacks/db/app.conf");
    t.commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    expect(changedNames(plan)).toEqual(["db", "web"]);
    expect(plan.stacks.find((s) => s.name === "web")?.reasons).toEqual([
      "stacks/web/config/app.conf -> stacks/db/app.conf renamed",
    ]);
  });

  it("refuses to plan anything on invalid config, with the error's position", async () => {
    const t = setup();
    t.commit();
    t.write({ ".github/stackpilot.yml": "stacks:\n  - name: web\n    hots: [h1]\n" }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    expect(plan.ok).toBe(false);
    expect(plan.stacks).toEqual([]);
    expect(plan.problems[0]).toMatchObject({ line: 3, col: 5, key: "stacks[0].hots" });
  });

  it("refuses a stack directory that is a symlink, and plans the other stacks", async () => {
    const t = setup();
    t.symlink("../stacks/web", "services/evil").commit();
    t.write({
      ".github/stackpilot.yml": "stacks:\n  - name: evil\n    path: services/evil\n    hosts: [h1]\n",
    }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    expect(plan.ok).toBe(false);
    expect(plan.deployable).toBe(true);
    expect(plan.problems[0]?.message).toContain("services/evil is a symlink");
    expect(target(plan, "evil", "h1")?.action).toBe("skip");
    expect(plan.stacks.map((s) => [s.name, !!s.broken])).toEqual([
      ["db", false],
      ["evil", true],
      ["web", false],
    ]);
  });
});

describe("warm plans", () => {
  it("parses an override file from another stack's directory from its blob, though the cache holds its own parse", async () => {
    const t = new TestRepo();
    try {
      t.write({
        ".github/stackpilot.yml":
          "stacks:\n  - name: y\n    compose_files: [compose.yaml, ../x/compose.yaml]\n",
        "stacks/x/compose.yaml": "services:\n  x:\n    image: a\n",
        "stacks/y/compose.yaml": "services:\n  y:\n    image: b\n",
      }).commit();
      const cache = new ParseCache();
      const repo = new GitRepo(t.dir);
      expect((await planRange(repo, { head: "HEAD" }, cache)).head.problems).toEqual([]);
      t.write({ "stacks/y/compose.yaml": "services:\n  y:\n    image: c\n" }).commit();
      // Stack x parsed stacks/x/compose.yaml against its own directory; y rebases it onto stacks/y.
      const { head } = await planRange(repo, { base: "HEAD~1", head: "HEAD" }, cache);
      expect(head.problems).toEqual([]);
      expect(
        head.stacks
          .get("y")
          ?.compose.services.map((s) => s.name)
          .sort(),
      ).toEqual(["x", "y"]);
    } finally {
      t.remove();
    }
  });
});
