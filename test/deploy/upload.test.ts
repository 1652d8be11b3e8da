// The release archive streamed from `git archive` (real git): what it holds, and that git never
// outlives its reader or its time limit.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { archiveFiles } from "../../src/deploy/upload.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

let t: TestRepo;
let commit: string;

beforeAll(() => {
  t = new TestRepo();
  // Incompressible and bigger than every pipe buffer on the way: git has to wait for its reader.
  commit = t
    .write({
      "stack/compose.yaml": "services: {}\n",
      "stack/big.bin": randomBytes(8 * 1024 * 1024).toString("base64"),
    })
    .commit();
});
afterAll(() => t.remove());

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** "settled" when the promise settles within `ms`, else "pending". */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([
    p.then(
      () => "settled",
      () => "settled",
    ),
    new Promise((r) => setTimeout(() => r("pending"), ms)),
  ]);

describe("archiveFiles", () => {
  it("streams a gzipped tar of exactly the named files and counts its bytes", async () => {
    const tar = archiveFiles(t.dir, commit, ["stack/compose.yaml"]);
    const tgz = await readAll(tar.stream);
    await tar.done;
    expect(tar.bytes()).toBe(tgz.length);
    expect(execFileSync("tar", ["-tz"], { input: tgz }).toString()).toBe("stack/\nstack/compose.yaml\n");
  });

  it("stops git when the reader gives up, and `done` settles at once instead of waiting for the limit", async () => {
    const tar = archiveFiles(t.dir, commit, ["stack/big.bin"]);
    const first = await new Promise<Buffer>((resolve) => tar.stream.once("data", resolve));
    expect(first.length).toBeGreaterThan(0);
    tar.stream.destroy();
    expect(await within(tar.done, 5_000)).toBe("settled");
    await expect(tar.done).resolves.toBeUndefined();
  });

  it("kills a `git archive` whose reader stalls past the time limit, saying so", async () => {
    const tar = archiveFiles(t.dir, commit, ["stack/big.bin"], { timeoutMs: 300 });
    // Nobody reads: git fills the pipes and waits.
    await expect(tar.done).rejects.toThrow("git archive timed out after 300 ms and was killed");
    tar.stream.destroy();
  });

  it("fails with git's words for an unknown commit", async () => {
    const tar = archiveFiles(t.dir, "f".repeat(40), ["stack/compose.yaml"]);
    await readAll(tar.stream);
    await expect(tar.done).rejects.toThrow(
      /^git archive failed \(exit 128\): fatal: not a tree object: f{40}/,
    );
  });
});
