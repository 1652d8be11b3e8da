/**
 * A read-only npm registry serving exactly the packages of a package-lock.json from this machine's
 * npm cache (~/.npm/_cacache, content addressed by integrity), so that `npm ci` in an image build
 * works with no network: a packument per name lists the lockfile's versions with a tarball URL
 * back here. Anything not in the lockfile, or not cached (other platforms' optional packages), is
 * a 404, which npm ci treats as it treats any unavailable optional package.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  [field: string]: unknown;
}

/** Manifest fields npm reads from a packument's version. */
const MANIFEST_FIELDS = [
  "dependencies",
  "optionalDependencies",
  "peerDependencies",
  "bin",
  "os",
  "cpu",
  "libc",
  "engines",
];

export interface NpmMirror {
  url: string;
  /** Tarballs served (to check the build really installed through here). */
  served(): number;
  close(): Promise<void>;
}

export async function startNpmMirror(opts: {
  lockfile: string;
  host: string;
  cacheDir?: string;
}): Promise<NpmMirror> {
  const cache = opts.cacheDir ?? join(homedir(), ".npm", "_cacache");
  const lock = JSON.parse(readFileSync(opts.lockfile, "utf8")) as { packages: Record<string, LockEntry> };
  const byName = new Map<string, LockEntry[]>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path || !entry.version || !entry.integrity) continue;
    const name = entry.name ?? path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length);
    byName.set(name, [...(byName.get(name) ?? []), entry]);
  }
  const contentPath = (integrity: string) => {
    const [algo, b64] = integrity.split("-", 2) as [string, string];
    const hex = Buffer.from(b64, "base64").toString("hex");
    return join(cache, "content-v2", algo, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
  };
  let served = 0;
  let base = "";
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/").slice(1);
    if (path.startsWith("-/tarball/")) {
      const file = contentPath(path.slice("-/tarball/".length));
      if (!existsSync(file)) return void res.writeHead(404).end();
      served++;
      return void res.writeHead(200, { "content-type": "application/octet-stream" }).end(readFileSync(file));
    }
    const entries = byName.get(path);
    if (!entries?.some((e) => existsSync(contentPath(e.integrity as string))))
      return void res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    const versions: Record<string, unknown> = {};
    for (const e of entries) {
      const manifest: Record<string, unknown> = { name: path, version: e.version };
      for (const f of MANIFEST_FIELDS) if (e[f] !== undefined) manifest[f] = e[f];
      manifest.dist = {
        tarball: `${base}/-/tarball/${encodeURIComponent(e.integrity as string)}`,
        integrity: e.integrity,
      };
      versions[e.version as string] = manifest;
    }
    const latest = Object.keys(versions).at(-1) as string;
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ name: path, "dist-tags": { latest }, versions }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, opts.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  base = `http://${opts.host}:${port}`;
  return {
    url: `${base}/`,
    served: () => served,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
