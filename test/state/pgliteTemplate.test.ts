// A new embedded database is unpacked from a template made once (by the build) instead of running
// initdb: it opens with Stackpilot's settings at once, takes the schema like any other, and a
// template of another PGlite version or a broken one is never half used.
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPgliteDb, PGLITE_SHARED_BUFFERS } from "../../src/state/pgliteDb.ts";
import { makeTemplate, seedFromTemplate, usableTemplate } from "../../src/state/pgliteTemplate.ts";
import { openStore } from "../../src/state/store.ts";

let dir: string;
let template: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sp-template-"));
  template = join(dir, "template.tar.gz");
  await makeTemplate(template);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the embedded database's template", () => {
  it("gives a new data dir a database with the small shared buffers from its first open", async () => {
    const db = await openPgliteDb(join(dir, "a", "pglite"), { template });
    try {
      const [row] = await db.query<{ shared_buffers: string }>("SHOW shared_buffers");
      expect(row?.shared_buffers).toBe(PGLITE_SHARED_BUFFERS);
    } finally {
      await db.close();
    }
  }, 60_000);

  it("holds no schema of its own: openStore migrates a database made from it, and what it writes stays", async () => {
    const dataDir = join(dir, "b");
    const db = await openPgliteDb(join(dataDir, "pglite"), { template });
    try {
      const [row] = await db.query<{ t: string | null }>(
        "SELECT to_regclass('stackpilot_migrations')::text AS t",
      );
      expect(row?.t).toBeNull();
    } finally {
      await db.close();
    }
    for (const [id, fresh] of [
      ["d-1", true],
      ["d-1", false],
    ] as const) {
      const store = await openStore({ dataDir });
      try {
        expect(await store.recordDelivery(id, "push")).toBe(fresh);
      } finally {
        await store.close();
      }
    }
  }, 60_000);

  it("is not used when another PGlite version made it", async () => {
    const other = join(dir, "other.tar.gz");
    await writeFile(other, await readFile(template));
    await writeFile(join(dir, "other.json"), JSON.stringify({ pglite: "0.0.1" }));
    expect(await usableTemplate(other)).toBeUndefined();
    expect(await usableTemplate(template)).toBe(template);
    expect(await usableTemplate(join(dir, "missing.tar.gz"))).toBeUndefined();
  });

  it("leaves no half database behind when the archive is broken", async () => {
    const broken = join(dir, "broken.tar.gz");
    await writeFile(broken, await readFile(template));
    await truncate(broken, 100_000);
    const dataDir = join(dir, "c", "pglite");
    await expect(seedFromTemplate(dataDir, broken)).rejects.toThrow();
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(join(dir, "c"))).toBe(true);
    expect(readdirSync(join(dir, "c"))).toEqual([]);
  }, 60_000);

  it("never unpacks over a data dir that exists", async () => {
    const dataDir = join(dir, "d", "pglite");
    expect(await seedFromTemplate(dataDir, template)).toBe(true);
    await writeFile(join(dataDir, "marker"), "mine");
    expect(await seedFromTemplate(dataDir, template)).toBe(false);
    expect(await readFile(join(dataDir, "marker"), "utf8")).toBe("mine");
  }, 60_000);
});
