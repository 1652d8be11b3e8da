// The embedded database's own settings: what Stackpilot changes from PGlite's defaults survives a
// reopen, and a data directory is open once per process.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openPgliteDb, PGLITE_SHARED_BUFFERS } from "../../src/state/pgliteDb.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe("openPgliteDb", () => {
  it("without a template (initdb) sets the small shared buffers on first open; they are in force from the next open", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sp-pglite-"));
    dirs.push(dir);
    const dataDir = join(dir, "pglite");
    const shared = async () => {
      const db = await openPgliteDb(dataDir, { template: false });
      try {
        const [row] = await db.query<{ shared_buffers: string }>("SHOW shared_buffers");
        return row?.shared_buffers;
      } finally {
        await db.close();
      }
    };
    expect(await shared()).toBe("128MB"); // initdb's default, in force until a restart
    expect(await shared()).toBe(PGLITE_SHARED_BUFFERS);
    expect(await shared()).toBe(PGLITE_SHARED_BUFFERS);
  }, 60_000);

  it("refuses a second open of one directory in this process", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sp-pglite-"));
    dirs.push(dir);
    const db = await openPgliteDb(join(dir, "pglite"));
    try {
      await expect(openPgliteDb(join(dir, "pglite"))).rejects.toThrow(/already open in this process/);
    } finally {
      await db.close();
    }
  }, 60_000);
});
