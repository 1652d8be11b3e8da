// Change detection through git submodules, on real repositories: a checkout with `git submodule
// update` clones in .git/modules, read through the CLI's CheckoutMountOpener.
import { describe, expect, it } from "vitest";
import { ParseCache } from "../../src/detect/snapshot.ts";
import { CheckoutMountOpener } from "../../src/git/mountOpeners.ts";
import { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";
import { resolvePlanMounts } from "../../src/plan/planMounts.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { type TestRepo, testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();
const FILE = ["-c", "protocol.file.allow=always"];

const mountFile = (service: string, path: string) =>
  `services:\n  ${service}:\n    image: nginx\n    volumes:\n      - ${path}:/x\n`;

async function plan(app: TestRepo, base: string, head: string, cache = new ParseCache()) {
  const repo = new GitRepo(app.dir);
  const mounts = await resolvePlanMounts(repo, { base, head }, new CheckoutMountOpener());
  return planRange(repo, { base, head, mounts }, cache);
}

const changed = (p: Plan) => p.stacks.filter((s) => s.changed).map((s) => s.name);
const reasons = (p: Plan, stack: string) => p.stacks.find((s) => s.name === stack)?.reasons ?? [];

/** An app whose web stack bind-mounts tools' lib/a.sh and whose api stack bind-mounts lib/b.sh. */
function appWithTools() {
  const tools = newRepo();
  tools.write({ "lib/a.sh": "a1\n", "lib/b.sh": "b1\n", "README.md": "tools\n" });
  tools.commit("tools 1");
  const app = newRepo();
  app.git(...FILE, "submodule", "add", "-q", tools.dir, "vendor/tools");
  app.write({
    "stacks/web/compose.yaml": mountFile("web", "../../vendor/tools/lib/a.sh"),
    "stacks/api/compose.yaml": mountFile("api", "../../vendor/tools/lib/b.sh"),
    "stacks/other/compose.yaml": "services:\n  other:\n    image: nginx\n",
  });
  const c1 = app.commit("app 1");
  /** Moves the pointer to a new tools commit with these files. */
  const bump = (files: Record<string, string | null>) => {
    tools.write(files);
    const t = tools.commit("tools next");
    app.git("-C", "vendor/tools", "fetch", "-q", "origin");
    app.git("-C", "vendor/tools", "checkout", "-q", t);
    return app.commit("bump tools");
  };
  return { tools, app, c1, bump };
}

/**
 * An app whose web stack bind-mounts a directory of a submodule (inner) nested in its tools
 * submodule; c2 moves inner inside tools and tools inside the app.
 */
function appWithNested(extra: Record<string, string> = {}) {
  const inner = newRepo();
  inner.write({ "conf/x.conf": "x1\n" });
  inner.commit("inner 1");
  const tools = newRepo();
  tools.git(...FILE, "submodule", "add", "-q", inner.dir, "deps/inner");
  tools.commit("tools with inner");
  const app = newRepo();
  app.git(...FILE, "submodule", "add", "-q", tools.dir, "vendor/tools");
  app.git(...FILE, "submodule", "update", "-q", "--init", "--recursive");
  app.write({ "stacks/web/compose.yaml": mountFile("web", "../../vendor/tools/deps/inner/conf"), ...extra });
  const c1 = app.commit("app 1");
  inner.write({ "conf/x.conf": "x2\n" });
  const i2 = inner.commit("inner 2");
  tools.git("-C", "deps/inner", "fetch", "-q", "origin");
  tools.git("-C", "deps/inner", "checkout", "-q", i2);
  const t2 = tools.commit("tools bump inner");
  app.git("-C", "vendor/tools", "fetch", "-q", "origin");
  app.git("-C", "vendor/tools", "checkout", "-q", t2);
  app.git("add", "vendor/tools");
  app.git(...FILE, "submodule", "update", "-q", "--init", "--recursive");
  const c2 = app.commit("app bump");
  return { app, c1, c2 };
}

describe("submodules: change detection through the pointer", () => {
  it("marks only the stack using the changed file inside the submodule, naming it", async () => {
    const { app, c1, bump } = appWithTools();
    const c2 = bump({ "lib/a.sh": "a2\n", "README.md": "tools 2\n" });
    const { plan: p } = await plan(app, c1, c2);
    expect(changed(p)).toEqual(["web"]);
    expect(reasons(p, "web")).toEqual(["vendor/tools/lib/a.sh modified (bind mount of service web)"]);
    expect(p.mounts).toEqual([
      expect.objectContaining({
        kind: "submodule",
        path: "vendor/tools",
        files: 2,
        from: expect.any(String),
      }),
    ]);
  });

  it("fingerprints the submodule files a stack uses and nothing else of it", async () => {
    const { app, c1, bump } = appWithTools();
    const c2 = bump({ "README.md": "only the readme\n" });
    const { plan: p, base, head } = await plan(app, c1, c2);
    expect(changed(p)).toEqual([]);
    expect(head.stacks.get("web")?.fingerprint).toBe(base.stacks.get("web")?.fingerprint);
    expect([...(head.stacks.get("web")?.inputs.files.keys() ?? [])]).toContain("vendor/tools/lib/a.sh");
    expect(head.stacks.get("web")?.mounts?.map((m) => m.path)).toEqual(["vendor/tools"]);
    expect(head.stacks.get("other")?.mounts).toBeUndefined();
  });

  it("gives the same answer warm (derived from the cached end) as cold", async () => {
    const { app, c1, bump } = appWithTools();
    const c2 = bump({ "lib/b.sh": "b2\n" });
    const c3 = bump({ "lib/a.sh": "a3\n" });
    const cache = new ParseCache();
    await plan(app, c1, c2, cache);
    const warm = await plan(app, c2, c3, cache);
    const cold = await plan(app, c2, c3);
    expect(changed(warm.plan)).toEqual(["web"]);
    expect(warm.plan).toEqual(cold.plan);
    expect(warm.head.stacks.get("web")?.fingerprint).toBe(cold.head.stacks.get("web")?.fingerprint);
  });

  it("follows a nested submodule down to the file that changed", async () => {
    const { app, c1, c2 } = appWithNested();
    const { plan: p } = await plan(app, c1, c2);
    expect(changed(p)).toEqual(["web"]);
    expect(reasons(p, "web")).toEqual([
      "vendor/tools/deps/inner/conf/x.conf modified (bind mount of service web)",
    ]);
  });

  it("reads only the repository's own submodules with submodules: shallow, a nested one staying opaque", async () => {
    const { app, c1, c2 } = appWithNested({ ".github/stackpilot.yml": "submodules: shallow\n" });
    const { plan: p, head } = await plan(app, c1, c2);
    expect(p.mounts?.map((m) => m.path)).toEqual(["vendor/tools"]);
    expect(head.tree.get("vendor/tools/deps/inner")?.mode).toBe("160000");
    expect(head.tree.has("vendor/tools/deps/inner/conf/x.conf")).toBe(false);
    // Files inside a submodule that is not read are no input: neither uploaded nor watched, so
    // the inner pointer's move changes nothing the stack deploys.
    expect(changed(p)).toEqual([]);
  });

  it("marks the stacks using a removed submodule's files changed, their inputs now missing", async () => {
    const { app, c1 } = appWithTools();
    app.git("rm", "-q", "vendor/tools");
    const c2 = app.commit("drop tools");
    const { plan: p } = await plan(app, c1, c2);
    expect(changed(p).sort()).toEqual(["api", "web"]);
    expect(reasons(p, "web")).toEqual(["vendor/tools/lib/a.sh deleted (bind mount of service web)"]);
  });

  it("says which submodule is not checked out and the command that fetches it", async () => {
    const tools = newRepo();
    tools.write({ "lib/a.sh": "a1\n" });
    tools.commit("tools");
    const origin = newRepo();
    origin.git(...FILE, "submodule", "add", "-q", tools.dir, "vendor/tools");
    origin.write({ "stacks/web/compose.yaml": mountFile("web", "../../vendor/tools/lib/a.sh") });
    origin.commit("app");
    const clone = newRepo();
    clone.git("fetch", "-q", origin.dir, "main");
    clone.git("reset", "-q", "--hard", "FETCH_HEAD");
    const head = clone.head();
    const { plan: p } = await plan(clone, "0".repeat(40), head);
    const web = p.stacks.find((s) => s.name === "web");
    expect(web?.broken?.[0]).toMatchObject({ file: "stacks/web/compose.yaml", line: 5 });
    expect(web?.broken?.[0]?.message).toContain(
      "submodule vendor/tools is not checked out: run `git submodule update --init vendor/tools`",
    );
    expect(web?.targets.every((t) => t.action === "skip")).toBe(true);
  });

  it("leaves a submodule opaque with submodules: off", async () => {
    const { app, c1, bump } = appWithTools();
    app.write({ ".github/stackpilot.yml": "submodules: off\n" });
    const c1b = app.commit("off");
    const c2 = bump({ "lib/a.sh": "a2\n" });
    const { plan: p, head } = await plan(app, c1b, c2);
    expect(p.mounts).toBeUndefined();
    expect(head.tree.get("vendor/tools")?.mode).toBe("160000");
    expect(head.tree.has("vendor/tools/lib/a.sh")).toBe(false);
    void c1;
  });
});
