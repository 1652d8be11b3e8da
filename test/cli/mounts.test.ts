// `stackpilot plan` on a local checkout with a submodule and a source: the checkout's own clones
// (.git/modules) and `--source NAME=DIR` are read, down to the files inside.
import { describe, expect, it } from "vitest";
import { runCli as run } from "../helpers/cli.ts";
import { testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();
const FILE = ["-c", "protocol.file.allow=always"];

function checkout() {
  const tools = newRepo();
  tools.write({ "lib/a.sh": "a1\n", "lib/b.sh": "b1\n" });
  tools.commit("tools");
  const utils = newRepo();
  utils.write({ "conf/app.env": "LEVEL=1\n" });
  utils.commit("utils");
  const app = newRepo();
  app.git(...FILE, "submodule", "add", "-q", tools.dir, "vendor/tools");
  app.write({
    ".github/stackpilot.yml": "sources:\n  utils: { repository: acme/utils, ref: main }\n",
    "stacks/web/compose.yaml":
      "services:\n  web:\n    image: nginx\n    volumes:\n      - ../../vendor/tools/lib/a.sh:/a\n",
    "stacks/api/compose.yaml":
      "services:\n  api:\n    image: nginx\n    volumes:\n      - ../../vendor/tools/lib/b.sh:/b\n",
    "stacks/cfg/compose.yaml":
      "services:\n  cfg:\n    image: nginx\n    env_file: ../../vendor/utils/conf/app.env\n",
  });
  const base = app.commit("app");
  tools.write({ "lib/a.sh": "a2\n" });
  const t2 = tools.commit("tools 2");
  app.git("-C", "vendor/tools", "fetch", "-q", "origin");
  app.git("-C", "vendor/tools", "checkout", "-q", t2);
  const head = app.commit("bump tools");
  return { app, utils, base, head };
}

describe("stackpilot plan with submodules and sources", () => {
  it("explains a moved pointer down to the file inside it, with --json", async () => {
    const { app, utils, base, head } = checkout();
    const { code, out, err } = await run(
      "plan",
      "--repo",
      app.dir,
      "--base",
      base,
      "--head",
      head,
      "--source",
      `utils=${utils.dir}`,
      "--json",
    );
    expect(err).toBe("");
    expect(code).toBe(0);
    const plan = JSON.parse(out);
    const changed = plan.stacks.filter((s: { changed: boolean }) => s.changed);
    expect(changed.map((s: { name: string }) => s.name)).toEqual(["web"]);
    expect(changed[0].reasons).toEqual(["vendor/tools/lib/a.sh modified (bind mount of service web)"]);
    expect(changed[0].files).toEqual([
      { path: "vendor/tools/lib/a.sh", status: "M", via: "bind mount of service web" },
    ]);
    expect(plan.mounts).toEqual([
      expect.objectContaining({ kind: "submodule", path: "vendor/tools", files: 1 }),
    ]);
  });

  it("breaks the stacks of a source not given with --source, saying how to give it", async () => {
    const { app, base, head } = checkout();
    const { code, out } = await run("plan", "--repo", app.dir, "--base", base, "--head", head, "-v");
    expect(code).toBe(0); // cfg is broken but this range does not change it
    expect(out).toContain("cfg");
    expect(out).toContain("pass --source utils=DIR, a local clone of it");
  });

  it("names a submodule that is not checked out and the command that fetches it", async () => {
    const { app, head } = checkout();
    const clone = newRepo();
    clone.git("fetch", "-q", app.dir, "main");
    clone.git("reset", "-q", "--hard", "FETCH_HEAD");
    const { code, out } = await run(
      "plan",
      "--repo",
      clone.dir,
      "--base",
      "0".repeat(40),
      "--head",
      head,
      "--json",
    );
    expect(code).toBe(1);
    const web = JSON.parse(out).stacks.find((s: { name: string }) => s.name === "web");
    expect(web.broken[0].message).toContain(
      "submodule vendor/tools is not checked out: run `git submodule update --init vendor/tools`",
    );
  });

  it("refuses a --source naming no declared source, and a malformed one", async () => {
    const { app, utils, head } = checkout();
    const unknown = await run("plan", "--repo", app.dir, "--head", head, "--source", `nope=${utils.dir}`);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("--source nope: .github/stackpilot.yml at");
    const bad = await run("plan", "--repo", app.dir, "--head", head, "--source", "utils");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--source takes NAME=DIR");
  });
});
