// `stackpilot deploy` of a checkout whose stacks use files of a git submodule and of a source
// repository (`--source NAME=DIR`), onto a real host: the containers see the submodule's and the
// source's files, and a moved pointer or a new source commit redeploys only the stack using the
// changed file.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployArgs, runCli } from "../helpers/cli.ts";
import { containersOn, insideContainer } from "./harness/containers.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness } from "./harness/harness.ts";

// Generous limits: the machine running these is shared and slow at times.
const SLOW = 600_000;

let h: Harness;
let tmp: string;
let appDir: string;
let toolsDir: string;
let utilsDir: string;
let hostsFile: string;
let dataDir: string;

const git = (dir: string, ...args: string[]) =>
  execFileSync(
    "git",
    ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "protocol.file.allow=always", ...args],
    { cwd: dir, encoding: "utf8" },
  ).trim();
const write = (dir: string, files: Record<string, string>) => {
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
};
const commit = (dir: string, message: string) => {
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", message);
  return git(dir, "rev-parse", "HEAD");
};
const newRepo = (name: string) => {
  const dir = join(tmp, name);
  mkdirSync(dir);
  git(dir, "init", "-q", "-b", "main");
  return dir;
};
const deploy = () =>
  runCli(
    ...deployArgs({ repo: appDir, hosts: hostsFile, data: dataDir, healthTimeoutS: 60 }),
    "--source",
    `utils=${utilsDir}`,
  );

const containers = () => containersOn(h, "h1");
const inside = (service: string, argv: string[]) => insideContainer(h, "h1", service, argv);
/** The files of a stack's current release on h1, without Stackpilot's own. */
async function releaseFiles(stack: string): Promise<string[]> {
  const dir = join(h.host("h1").deployRoot, stack, "current/");
  const r = await h.exec("h1", ["find", "-L", dir, "-type", "f", "-not", "-path", "*/.stackpilot/*"]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split("\n")
    .map((p) => p.slice(dir.length))
    .sort();
}

beforeAll(async () => {
  h = await startHarness({ hosts: 1 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-sources-"));
  dataDir = join(tmp, "data");
  hostsFile = join(tmp, "hosts.yml");
  writeFileSync(hostsFile, JSON.stringify({ hosts: [hostEntry(h.host("h1"))] })); // JSON is YAML
  toolsDir = newRepo("tools");
  write(toolsDir, { "lib/a.sh": "a1\n", "lib/b.sh": "b1\n", "lib/unused.sh": "never uploaded\n" });
  commit(toolsDir, "tools");
  utilsDir = newRepo("utils");
  write(utilsDir, { "conf/app.env": "LEVEL=1\n" });
  commit(utilsDir, "utils");
  appDir = newRepo("app");
  git(appDir, "submodule", "add", "-q", toolsDir, "vendor/tools");
  const image = `image: ${h.image}`;
  write(appDir, {
    ".github/stackpilot.yml":
      "defaults: { hosts: [h1] }\nsources:\n  utils: { repository: acme/utils, ref: main }\n",
    "stacks/web/compose.yaml": sleeperCompose("web", [
      image,
      "volumes: ['../../vendor/tools/lib/a.sh:/tool.sh:ro']",
    ]),
    "stacks/api/compose.yaml": sleeperCompose("api", [
      image,
      "volumes: ['../../vendor/tools/lib/b.sh:/tool.sh:ro']",
    ]),
    "stacks/cfg/compose.yaml": sleeperCompose("cfg", [image, "env_file: ../../vendor/utils/conf/app.env"]),
  });
  commit(appDir, "app");
}, SLOW);

afterAll(async () => {
  await h?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("stacks using files of a submodule and a source, on a real host", () => {
  it(
    "deploys releases holding exactly the submodule and source files each stack uses, seen by the containers",
    async () => {
      const r = await deploy();
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out).toMatch(/3 succeeded, 0 failed/);
      expect(await inside("web", ["cat", "/tool.sh"])).toBe("a1\n");
      expect(await inside("api", ["cat", "/tool.sh"])).toBe("b1\n");
      expect(await inside("cfg", ["env"])).toMatch(/^LEVEL=1$/m);
      expect(await releaseFiles("web")).toEqual(["stacks/web/compose.yaml", "vendor/tools/lib/a.sh"]);
      expect(await releaseFiles("cfg")).toEqual(["stacks/cfg/compose.yaml", "vendor/utils/conf/app.env"]);
    },
    SLOW,
  );

  it(
    "redeploys only the stack whose file inside the submodule changed when the pointer moves",
    async () => {
      const before = await containers();
      write(toolsDir, { "lib/a.sh": "a2\n", "lib/unused.sh": "still never uploaded\n" });
      const t2 = commit(toolsDir, "tools 2");
      git(join(appDir, "vendor/tools"), "fetch", "-q", "origin");
      git(join(appDir, "vendor/tools"), "checkout", "-q", t2);
      commit(appDir, "bump tools");
      const r = await deploy();
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out).toMatch(/web +h1 +succeeded/);
      expect(r.out).toMatch(/1 succeeded, 0 failed/);
      const after = await containers();
      expect(after.web).not.toBe(before.web);
      expect(after.api).toBe(before.api);
      expect(after.cfg).toBe(before.cfg);
      expect(await inside("web", ["cat", "/tool.sh"])).toBe("a2\n");
    },
    SLOW,
  );

  it(
    "redeploys the stack reading a source's file when the source's clone moves on",
    async () => {
      const before = await containers();
      write(utilsDir, { "conf/app.env": "LEVEL=2\n" });
      commit(utilsDir, "utils 2");
      const r = await deploy();
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      expect(r.out).toMatch(/cfg +h1 +succeeded/);
      expect(r.out).toMatch(/1 succeeded, 0 failed/);
      const after = await containers();
      expect(after.cfg).not.toBe(before.cfg);
      expect(after.web).toBe(before.web);
      expect(after.api).toBe(before.api);
      expect(await inside("cfg", ["env"])).toMatch(/^LEVEL=2$/m);
    },
    SLOW,
  );
});
