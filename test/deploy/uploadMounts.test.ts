// Release archives across repositories (real git, real tar): a stack's files inside a submodule or
// source come from that repository's own objects, under the mount's path, in one tar.gz.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { ArchiveCache } from "../../src/deploy/archiveCache.ts";
import { archiveFiles } from "../../src/deploy/upload.ts";
import { testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function unpack(tgz: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), "sp-untar-"));
  dirs.push(dir);
  execFileSync("tar", ["-x", "-z", "-f", "-", "-C", dir], { input: tgz });
  return dir;
}

function fixture() {
  const tools = newRepo();
  tools.write({ "lib/a.sh": "echo a\n", "lib/b.sh": "echo b\n", "bin/run": "#!/bin/sh\n" });
  tools.chmod("bin/run", 0o755);
  tools.symlink("a.sh", "lib/current.sh");
  const toolsCommit = tools.commit("tools");
  const app = newRepo();
  app.write({ "stacks/web/compose.yaml": "services: {}\n" });
  const appCommit = app.commit("app");
  const mounts = [{ path: "vendor/tools", gitDir: join(tools.dir, ".git"), commit: toolsCommit }];
  return { app, appCommit, mounts };
}

const FILES = [
  "stacks/web/compose.yaml",
  "vendor/tools/lib/a.sh",
  "vendor/tools/lib/current.sh",
  "vendor/tools/bin/run",
];

describe("archives with files of mounted repositories", () => {
  it("holds exactly the named files, each from its own repository, with modes and links", async () => {
    const { app, appCommit, mounts } = fixture();
    const tar = archiveFiles(app.dir, appCommit, FILES, { mounts });
    const tgz = await readAll(tar.stream);
    await tar.done;
    expect(tar.bytes()).toBe(tgz.length);
    const files = execFileSync("tar", ["-tz"], { input: tgz })
      .toString()
      .split("\n")
      .filter((l) => l && !l.endsWith("/"));
    expect(files.sort()).toEqual([...FILES].sort());
    const dir = unpack(tgz);
    expect(readFileSync(join(dir, "vendor/tools/lib/a.sh"), "utf8")).toBe("echo a\n");
    expect(readlinkSync(join(dir, "vendor/tools/lib/current.sh"))).toBe("a.sh");
    expect(statSync(join(dir, "vendor/tools/bin/run")).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(dir, "stacks/web/compose.yaml"), "utf8")).toBe("services: {}\n");
  });

  it("fails (and the stream ends short) when a mount's commit is not in its repository", async () => {
    const { app, appCommit, mounts } = fixture();
    const gone = [{ ...(mounts[0] as (typeof mounts)[0]), commit: "1".repeat(40) }];
    const tar = archiveFiles(app.dir, appCommit, FILES, { mounts: gone });
    const read = readAll(tar.stream).catch((e: unknown) => e);
    await expect(tar.done).rejects.toThrow(/git archive/);
    const got = await read;
    if (Buffer.isBuffer(got))
      expect(() => execFileSync("tar", ["-tz"], { input: got, stdio: "pipe" })).toThrow();
  });

  it("shares one archive across hosts from the cache, keyed by the mounts' commits too", async () => {
    const { app, appCommit, mounts } = fixture();
    const cache = new ArchiveCache();
    const [one, two] = await Promise.all([
      cache.get(app.dir, appCommit, FILES, mounts),
      cache.get(app.dir, appCommit, FILES, mounts),
    ]);
    expect(cache.spawned).toBe(1);
    expect(one).toBe(two);
    const dir = unpack(one as Buffer);
    expect(readFileSync(join(dir, "vendor/tools/lib/a.sh"), "utf8")).toBe("echo a\n");
    // A file list without mounted paths is archived as before: one `git archive` of the repository.
    const plain = await cache.get(app.dir, appCommit, ["stacks/web/compose.yaml"], mounts);
    expect(execFileSync("tar", ["-tz"], { input: plain }).toString()).toBe(
      "stacks/\nstacks/web/\nstacks/web/compose.yaml\n",
    );
  });
});
