/** Which stacks a commit has, and which of them are refused (broken) and why. */
import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { PathIndex } from "../../src/detect/pathIndex.ts";
import { normalizeProjectName, resolveStacks, type StackDef } from "../../src/detect/stacks.ts";
import { MODE_SYMLINK, type TreeEntry } from "../../src/git/repo.ts";

const COMPOSE = "services: {a: {image: a}}\n";

/** Stacks of a tree holding `paths` (each a plain file; a value of "symlink" makes it a link), under `config`. */
function stacksOf(paths: Record<string, string>, config?: string) {
  const tree = new Map<string, TreeEntry>(
    Object.entries(paths).map(([p, kind]) => [
      p,
      { mode: kind === "symlink" ? MODE_SYMLINK : "100644", oid: p },
    ]),
  );
  const loaded = loadRepoConfig(config);
  expect(loaded.problems).toEqual([]);
  const { stacks, problems } = resolveStacks(loaded.config, new PathIndex(tree), loaded.source);
  return { stacks: new Map(stacks.map((s) => [s.name, s])), problems };
}

const errorsOf = (def: StackDef | undefined) => (def?.errors ?? []).map((p) => p.message);

describe("normalizeProjectName", () => {
  it("derives project names as compose-go's NormalizeProjectName does", () => {
    expect(normalizeProjectName("transfer.sh")).toBe("transfersh");
    expect(normalizeProjectName("My_App-2")).toBe("my_app-2");
    expect(normalizeProjectName("__x.y")).toBe("xy");
    expect(normalizeProjectName("-._")).toBe("");
    expect(normalizeProjectName("web")).toBe("web");
  });
});

describe("resolveStacks: project names", () => {
  it("discovers a directory named transfer.sh as a stack with the project name Compose gives it", () => {
    const { stacks, problems } = stacksOf({ "stacks/transfer.sh/compose.yaml": COMPOSE });
    expect(problems).toEqual([]);
    expect(stacks.get("transfer.sh")).toMatchObject({
      projectName: "transfersh",
      path: "stacks/transfer.sh",
    });
    expect(stacks.get("transfer.sh")?.errors).toBeUndefined();
  });

  it("refuses both stacks whose derived project names collide, naming both directories", () => {
    const { stacks } = stacksOf({
      "stacks/app.1/compose.yaml": COMPOSE,
      "stacks/app1/compose.yaml": COMPOSE,
      "stacks/other/compose.yaml": COMPOSE,
    });
    const message =
      'stacks "app.1" (stacks/app.1) and "app1" (stacks/app1) have the same compose project name "app1"; set project_name on one of them';
    expect(errorsOf(stacks.get("app.1"))).toEqual([message]);
    expect(errorsOf(stacks.get("app1"))).toEqual([message]);
    // A discovered stack has no config entry: its error points at its compose file.
    expect(stacks.get("app1")?.errors?.[0]).toMatchObject({
      file: "stacks/app1/compose.yaml",
      line: 1,
      col: 1,
    });
    expect(stacks.get("other")?.errors).toBeUndefined();
  });

  it("refuses an explicit project_name that another stack's derived name already is, pointing at the key", () => {
    const { stacks } = stacksOf(
      { "stacks/web/compose.yaml": COMPOSE, "stacks/api/compose.yaml": COMPOSE },
      "stacks:\n  - name: api\n    project_name: web\n",
    );
    expect(errorsOf(stacks.get("web"))).toHaveLength(1);
    expect(stacks.get("api")?.errors?.[0]).toMatchObject({
      file: ".github/stackpilot.yml",
      line: 3,
      col: 19,
      key: "stacks[0].project_name",
    });
  });

  it("lets a name that only normalization makes valid be fixed with project_name", () => {
    const { stacks } = stacksOf(
      { "stacks/app.1/compose.yaml": COMPOSE, "stacks/app1/compose.yaml": COMPOSE },
      "stacks:\n  - name: app.1\n    project_name: app-one\n",
    );
    expect(stacks.get("app.1")).toMatchObject({ projectName: "app-one" });
    expect(stacks.get("app.1")?.errors).toBeUndefined();
    expect(stacks.get("app1")?.errors).toBeUndefined();
  });

  it("keeps the strict check of an explicit project_name: the config is invalid", () => {
    const loaded = loadRepoConfig("stacks:\n  - name: web\n    project_name: Web.Site\n");
    expect(loaded.problems.map((p) => [p.severity, p.key])).toEqual([["error", "stacks[0].project_name"]]);
  });
});

describe("resolveStacks: refused definitions stay known, with their errors", () => {
  it("keeps a stack whose compose file is missing, with the error and nothing to read", () => {
    const { stacks } = stacksOf(
      { "stacks/web/compose.yaml": COMPOSE, "stacks/db/README": "" },
      "stacks:\n  - name: db\n    path: stacks/db\n    compose_files: [db.yaml]\n",
    );
    expect(stacks.get("db")).toMatchObject({ path: "stacks/db", composeFiles: [] });
    expect(errorsOf(stacks.get("db"))).toEqual([
      'stack "db": stacks/db/db.yaml does not exist at this commit',
    ]);
    expect(stacks.get("web")?.errors).toBeUndefined();
  });

  it("refuses a missing --env-file, which every compose command would fail on, but still tracks it", () => {
    const { stacks } = stacksOf(
      { "stacks/web/compose.yaml": COMPOSE },
      "stacks:\n  - name: web\n    env_files: [prod.env]\n",
    );
    expect(errorsOf(stacks.get("web"))).toEqual([
      'stack "web": stacks/web/prod.env does not exist at this commit',
    ]);
    expect(stacks.get("web")?.envFiles).toEqual(["stacks/web/prod.env"]);
  });

  it("refuses a symlinked stack directory without reading anything in it", () => {
    const { stacks } = stacksOf(
      { "stacks/web/compose.yaml": COMPOSE, "services/evil": "symlink" },
      "stacks:\n  - name: evil\n    path: services/evil\n",
    );
    expect(stacks.get("evil")?.composeFiles).toEqual([]);
    expect(errorsOf(stacks.get("evil"))[0]).toContain("services/evil is a symlink");
  });

  it("refuses both stacks of one directory", () => {
    const { stacks } = stacksOf(
      { "stacks/web/compose.yaml": COMPOSE },
      "stacks:\n  - name: a\n    path: stacks/web\n  - name: b\n    path: stacks/web\n",
    );
    expect(errorsOf(stacks.get("a"))).toEqual(['stacks "a" and "b" share the directory stacks/web']);
    expect(errorsOf(stacks.get("b"))).toEqual(['stacks "a" and "b" share the directory stacks/web']);
  });

  it("refuses a name discovered in two directories, naming both", () => {
    const { stacks } = stacksOf({ "stacks/x/compose.yaml": COMPOSE, "services/x/compose.yaml": COMPOSE });
    expect(stacks.get("x")?.path).toBe("services/x");
    expect(errorsOf(stacks.get("x"))).toEqual([
      'stack name "x" is discovered twice (services/x and stacks/x); add a stacks entry with another name and an explicit path for one of them',
    ]);
  });

  it("gives a directory an entry names by path to that entry, so renaming it ends a clash", () => {
    const { stacks, problems } = stacksOf(
      { "stacks/x/compose.yaml": COMPOSE, "services/x/compose.yaml": COMPOSE },
      "stacks:\n  - name: x2\n    path: services/x\n",
    );
    expect(problems).toEqual([]);
    expect([...stacks.keys()].sort()).toEqual(["x", "x2"]);
    expect(stacks.get("x")).toMatchObject({ path: "stacks/x" });
    expect(stacks.get("x")?.errors).toBeUndefined();
  });
});

describe("resolveStacks: directories that are not stacks", () => {
  it("warns about a hidden directory with a compose file, naming it and how to deploy it", () => {
    const { stacks, problems } = stacksOf({
      "stacks/.hidden/compose.yaml": COMPOSE,
      "stacks/web/compose.yaml": COMPOSE,
    });
    expect([...stacks.keys()]).toEqual(["web"]);
    expect(problems).toEqual([
      {
        file: "stacks/.hidden/compose.yaml",
        line: 0,
        col: 0,
        key: "",
        message:
          'stacks/.hidden holds compose.yaml but is not a stack: discovery skips directories starting with "."; to deploy it, add a stacks entry with a name and path: stacks/.hidden (with enabled: false to keep it out and silence this)',
        severity: "warning",
      },
    ]);
  });

  it("deploys a hidden directory given a stacks entry, and is silent about one disabled", () => {
    const files = { "stacks/.hidden/compose.yaml": COMPOSE };
    const named = stacksOf(files, "stacks:\n  - name: hidden\n    path: stacks/.hidden\n");
    expect(named.problems).toEqual([]);
    expect(named.stacks.get("hidden")).toMatchObject({ path: "stacks/.hidden", projectName: "hidden" });
    const disabled = stacksOf(
      files,
      "stacks:\n  - name: hidden\n    path: stacks/.hidden\n    enabled: false\n",
    );
    expect(disabled.problems).toEqual([]);
    expect(disabled.stacks.size).toBe(0);
  });

  it("reports a directory whose name cannot be a stack name as an error of no stack, unless an entry names it", () => {
    const files = { "stacks/my app/compose.yaml": COMPOSE, "stacks/web/compose.yaml": COMPOSE };
    const bare = stacksOf(files);
    expect([...bare.stacks.keys()]).toEqual(["web"]);
    expect(bare.problems.map((p) => [p.severity, p.file])).toEqual([["error", "stacks/my app/compose.yaml"]]);
    expect(bare.problems[0]?.message).toContain(
      "add a stacks entry with a valid name and path: stacks/my app",
    );
    const named = stacksOf(files, "stacks:\n  - name: my-app\n    path: stacks/my app\n");
    expect(named.problems).toEqual([]);
    expect(named.stacks.get("my-app")?.errors).toBeUndefined();
  });
});
