/**
 * The deploy's merged host scripts, run through a real `sh` on a temp dir: what they leave behind
 * on success and on failure (the exact command lines are in commands.test.ts).
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inspectContainers, projectContainerStates } from "../../src/deploy/commands/docker.ts";
import { fenced, LOCK_HELD, LOCK_LOST, removeLockDir, takeLockDir } from "../../src/deploy/commands/lock.ts";
import { type StackPaths, stackPaths } from "../../src/deploy/commands/paths.ts";
import { pruneReleases, stagingDir, switchTo, uploadAndSwitch } from "../../src/deploy/commands/release.ts";
import { type Argv, commandLine } from "../../src/deploy/shell.ts";

let dir: string;
let p: StackPaths;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-scripts-"));
  p = stackPaths(dir, "web");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Run an argv as the SSH server would: its quoted command line through `sh -c`. */
function sh(argv: Argv, input?: Buffer | string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync("sh", ["-c", commandLine(argv)], { input: input ?? "", env });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A gzipped tar of `files` (paths relative to the archive root). */
function tgz(files: Record<string, string>): Buffer {
  const src = mkdtempSync(join(dir, "src-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(src, path, ".."), { recursive: true });
    writeFileSync(join(src, path), content);
  }
  const out = execFileSync("tar", ["-c", "-z", "-f", "-", "-C", src, ...Object.keys(files)]);
  rmSync(src, { recursive: true });
  return out;
}

function upload(id: string, meta: Record<string, string>, tar: Buffer) {
  const staging = stagingDir(p, id, "n0nce");
  const files = Object.entries(meta).map(([name, content]) => ({ name, bytes: Buffer.byteLength(content) }));
  const input = Buffer.concat([...Object.values(meta).map((c) => Buffer.from(c)), tar]);
  return { ...sh(uploadAndSwitch(p, staging, id, files), input), staging };
}

const listTree = (root: string): string[] =>
  readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();

describe("upload, publish and switch in one script", () => {
  it("puts the tree and Stackpilot's files in place, switches current, leaves no staging", () => {
    mkdirSync(p.releasesDir, { recursive: true });
    const manifest = '{\n  "version": 1,\n  "é": "ü"\n}';
    const r = upload(
      "abc",
      { "release.json": manifest, "images.compose.yaml": "services: {}\n" },
      tgz({
        "stacks/web/compose.yaml": "services: {}\n",
        "shared/a b.env": "X=1\n",
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(listTree(p.release("abc"))).toEqual([
      ".stackpilot/images.compose.yaml",
      ".stackpilot/release.json",
      "shared/a b.env",
      "stacks/web/compose.yaml",
    ]);
    expect(readFileSync(join(p.release("abc"), ".stackpilot/release.json"), "utf8")).toBe(manifest);
    expect(readlinkSync(p.current)).toBe("releases/abc");
    expect(readdirSync(p.releasesDir)).toEqual(["abc"]);
    expect(existsSync(`${p.current}.next`)).toBe(false);
  });

  it("replaces whatever the repository had at .stackpilot, and a redeployed release wholesale", () => {
    expect(upload("abc", { "release.json": "{}" }, tgz({ old: "1" })).code).toBe(0);
    const r = upload(
      "abc",
      { "release.json": '{"v":2}' },
      tgz({ ".stackpilot/release.json": "evil", ".stackpilot/x": "y", new: "2" }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(listTree(p.release("abc"))).toEqual([".stackpilot/release.json", "new"]);
    expect(readFileSync(join(p.release("abc"), ".stackpilot/release.json"), "utf8")).toBe('{"v":2}');
  });

  it("publishes nothing and leaves current alone when the tar stream is cut short or broken", () => {
    expect(upload("good", { "release.json": "{}" }, tgz({ a: "1" })).code).toBe(0);
    const whole = tgz({ a: "x".repeat(100_000), b: "2" });
    for (const broken of [whole.subarray(0, whole.length - 9), Buffer.from("not a tar"), Buffer.alloc(0)]) {
      const r = upload("bad", { "release.json": "{}" }, broken);
      expect(r.code).not.toBe(0);
      expect(readlinkSync(p.current)).toBe("releases/good");
      expect(readdirSync(p.releasesDir)).toEqual(["good"]);
    }
  });

  it("reads exactly the announced bytes of each file before the tar (a short file fails)", () => {
    const r = upload("abc", { "release.json": "" }, tgz({ a: "1" }));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.release("abc"), ".stackpilot/release.json"), "utf8")).toBe("");
    const staging = stagingDir(p, "def", "n0nce");
    const short = sh(uploadAndSwitch(p, staging, "def", [{ name: "release.json", bytes: 10 }]), "{}");
    expect(short.code).not.toBe(0);
    expect(readlinkSync(p.current)).toBe("releases/abc");
    expect(existsSync(staging)).toBe(false);
  });
});

describe("switch to a retained release", () => {
  it("marks it newest and renames the link over current", () => {
    mkdirSync(p.release("r1"), { recursive: true });
    mkdirSync(p.release("r2"), { recursive: true });
    utimesSync(p.release("r1"), 1000, 1000);
    expect(sh(switchTo(p, "r1")).code).toBe(0);
    expect(readlinkSync(p.current)).toBe("releases/r1");
    expect(execFileSync("ls", ["-1t", p.releasesDir]).toString().split("\n")[0]).toBe("r1");
  });
});

describe("prune in one script", () => {
  const make = (names: string[]) =>
    names.forEach((n, i) => {
      mkdirSync(p.release(n), { recursive: true });
      utimesSync(p.release(n), 10_000 - i * 10, 10_000 - i * 10); // newest first
    });

  it("keeps the newest `keep` and current, and never touches dot entries", () => {
    make(["r7", "r6", "r5", "r4 with space", "-r3", "r2", "r1"]);
    mkdirSync(join(p.releasesDir, ".incoming-x"));
    expect(sh(pruneReleases(p, 3, "r1")).code).toBe(0);
    expect(readdirSync(p.releasesDir).sort()).toEqual([".incoming-x", "r1", "r5", "r6", "r7"]);
  });

  it("does nothing when there is nothing to prune, or no releases dir", () => {
    make(["r2", "r1"]);
    expect(sh(pruneReleases(p, 5, "r2")).code).toBe(0);
    expect(readdirSync(p.releasesDir).sort()).toEqual(["r1", "r2"]);
    expect(sh(pruneReleases(stackPaths(dir, "none"), 5, "x")).code).toBe(0);
  });
});

describe("take the lock and read current in one script", () => {
  it("prints where current points once the lock is held, nothing when there is none", () => {
    const first = sh(takeLockDir(p, "aaaa1111"), "{}");
    expect(first).toMatchObject({ code: 0, stdout: "" });
    rmSync(p.lockDir, { recursive: true });
    mkdirSync(p.release("abc"), { recursive: true });
    expect(sh(switchTo(p, "abc")).code).toBe(0);
    expect(sh(takeLockDir(p, "bbbb2222"), "{}")).toMatchObject({ code: 0, stdout: "releases/abc\n" });
    expect(readFileSync(join(p.lockDir, "details.json"), "utf8")).toBe("{}");
    expect(readFileSync(join(p.lockDir, "nonce"), "utf8")).toBe("bbbb2222");
    expect(sh(takeLockDir(p, "cccc3333"), "{}")).toMatchObject({ code: LOCK_HELD, stdout: "" });
  });
});

describe("fenced commands", () => {
  it("run while the lock holds their nonce, and fail with LOCK_LOST once it was broken and retaken", () => {
    expect(sh(takeLockDir(p, "aaaa1111"), "{}").code).toBe(0);
    const marker = join(dir, "ran");
    expect(sh(fenced(p, "aaaa1111", ["touch", marker])).code).toBe(0);
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
    // Another deployer broke the lock and took it: the first holder's commands no longer run.
    expect(sh(removeLockDir(p)).code).toBe(0);
    expect(sh(takeLockDir(p, "bbbb2222"), "{}").code).toBe(0);
    const late = sh(fenced(p, "aaaa1111", ["touch", marker]));
    expect(late.code).toBe(LOCK_LOST);
    expect(late.stderr).toContain("is no longer held by this deploy");
    expect(existsSync(marker)).toBe(false);
    // Nor may it release the new holder's lock.
    expect(sh(fenced(p, "aaaa1111", removeLockDir(p))).code).toBe(LOCK_LOST);
    expect(existsSync(join(p.lockDir, "nonce"))).toBe(true);
  });

  it("an upload whose lock was broken while it streamed publishes nothing and leaves current alone", () => {
    mkdirSync(p.release("old"), { recursive: true });
    expect(sh(switchTo(p, "old")).code).toBe(0);
    expect(sh(takeLockDir(p, "bbbb2222"), "{}").code).toBe(0);
    const staging = join(p.releasesDir, ".incoming-new-x");
    const r = sh(uploadAndSwitch(p, staging, "new", [], { nonce: "aaaa1111" }), tgz({ "a.txt": "a" }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("is no longer held by this deploy");
    expect(existsSync(p.release("new"))).toBe(false);
    expect(existsSync(staging)).toBe(false);
    expect(readlinkSync(p.current)).toBe("releases/old");
  });
});

describe("health poll in one script", () => {
  /** A fake `docker` on PATH that logs its argv, one per line, and prints canned `ps` output. */
  function fakeDocker(psOut: string, psCode = 0) {
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const log = join(dir, "docker.log");
    writeFileSync(
      join(bin, "docker"),
      `#!/bin/sh\nprintf '%s|' "$@" >> '${log}'; echo >> '${log}'\n` +
        `if [ "$1" = ps ]; then printf '%s' '${psOut}'; exit ${psCode}; fi\necho inspected\n`,
    );
    chmodSync(join(bin, "docker"), 0o755);
    return {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      log: () => readFileSync(log, "utf8"),
    };
  }

  it("inspects the project's containers found by label", () => {
    const d = fakeDocker("aaa\nbbb\n");
    const r = sh(projectContainerStates("web"), "", d.env);
    expect(r).toMatchObject({ code: 0, stdout: "inspected\n" });
    expect(d.log().split("\n")[1]).toBe(`inspect|--format|${inspectContainers([])[3]}|--|aaa|bbb|`);
    expect(d.log().split("\n")[0]).toBe(
      "ps|--all|--quiet|--no-trunc|--filter|label=com.docker.compose.project=web|",
    );
  });

  it("prints nothing without containers, and fails when docker ps fails", () => {
    const d = fakeDocker("");
    expect(sh(projectContainerStates("web"), "", d.env)).toMatchObject({ code: 0, stdout: "" });
    expect(d.log().split("\n").filter(Boolean)).toHaveLength(1);
    rmSync(join(dir, "bin"), { recursive: true });
    rmSync(join(dir, "docker.log"));
    expect(sh(projectContainerStates("web"), "", fakeDocker("", 3).env).code).toBe(3);
  });
});
