/**
 * A ready-made embedded database: PGlite's initdb runs a second Postgres in WASM and took 10 s and
 * peaked at 1.1 GB on the first command of a fresh data dir (bench/footprint.bench.ts). The build
 * runs it once (`node dist/state/makeTemplate.js`, from `npm run build`) and packs the result
 * into `dist/pglite-template.tar.gz` (5 MB); a fresh data dir is that archive unpacked (streamed:
 * a few MB of memory), then opened as an existing database. Only the cluster is in it (initdb and
 * the shared-buffers setting), not Stackpilot's schema: migrations and the queue's schema are
 * applied at open as ever, so a template is valid for any Stackpilot of the same PGlite version.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create as createTar, extract } from "tar";
import { openPgliteDb } from "./pgliteDb.ts";

/** Where the build puts the template: `<package>/dist/`, two levels above this module in src/ and dist/ alike. */
export const DEFAULT_TEMPLATE = fileURLToPath(new URL("../../dist/pglite-template.tar.gz", import.meta.url));

interface TemplateMeta {
  /** The PGlite version that ran initdb: another one may not read the directory. */
  pglite: string;
}

export function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  // The package's exports hide package.json; its main entry sits in <package>/dist/.
  const main = require.resolve("@electric-sql/pglite");
  const pkg = join(dirname(main), "..", "package.json");
  return (require(pkg) as { version: string }).version;
}

const metaFile = (template: string) => template.replace(/\.tar\.gz$/, ".json");

/** The template at `path` when it exists and was made by this PGlite version. */
export async function usableTemplate(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    const meta = JSON.parse(await readFile(metaFile(path), "utf8")) as TemplateMeta;
    return meta.pglite === pgliteVersion() ? path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unpacks the template as `dataDir` when that does not exist yet; true when it did. The archive is
 * unpacked beside it and renamed into place, so a crash midway leaves no half database. The
 * caller holds the data dir's lock.
 */
export async function seedFromTemplate(dataDir: string, template: string): Promise<boolean> {
  if (existsSync(dataDir)) return false;
  const staging = `${dataDir}.seed-${randomBytes(4).toString("hex")}`;
  await mkdir(staging, { recursive: true, mode: 0o700 });
  try {
    await extract({ file: template, cwd: staging, strict: true });
    await rename(staging, dataDir);
    return true;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Runs initdb (through openPgliteDb, which tunes it) in a temp dir and packs the result as `out`. */
export async function makeTemplate(out: string): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "sp-pglite-template-"));
  try {
    const dataDir = join(work, "pglite");
    const db = await openPgliteDb(dataDir, { template: false });
    await db.exec("CHECKPOINT");
    await db.close();
    const files = (await readdir(dataDir)).filter((f) => f !== "postmaster.pid");
    await mkdir(dirname(out), { recursive: true });
    const partial = `${out}.partial`;
    await createTar({ gzip: { level: 9 }, file: partial, cwd: dataDir, portable: true }, files);
    const meta: TemplateMeta = { pglite: pgliteVersion() };
    await writeFile(metaFile(out), `${JSON.stringify(meta)}\n`);
    await rename(partial, out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
