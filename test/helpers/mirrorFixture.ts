/** Shared setup of the MirrorCache tests: a token-checking git smart-HTTP server and a temp cache dir per test. */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { MirrorCache, type MirrorCacheOptions, type MirrorSource } from "../../src/git/mirror.ts";
import type { GitRepo } from "../../src/git/repo.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "./gitHttpServer.ts";

export const TOKEN = "ghs_TestInstallationToken0123456789abcd";
export const WRONG = "ghs_WrongInstallationToken9876543210zyx";
export const b64 = (token: string) => Buffer.from(`x-access-token:${token}`).toString("base64");
export const SECRETS = [TOKEN, b64(TOKEN), WRONG, b64(WRONG)];
export const auth = { token: TOKEN };

export interface MirrorFixture {
  readonly server: GitHttpServer;
  readonly mirrorsDir: string;
  newCache(opts?: Partial<MirrorCacheOptions>): MirrorCache;
  source(fullName: string, defaultBranch?: string): MirrorSource;
  /** A served repository with one commit on main. */
  remote(fullName: string, files?: Record<string, string>): { r: RemoteRepo; sha: string };
  /** MirrorCache.ensure() in another Node process; resolves once it is done, after `onReady` when it starts. */
  runChild(fullName: string, token: string, onReady?: () => void): Promise<unknown>;
}

/** Registers beforeEach/afterEach hooks; read the fixture's fields inside tests only. */
export function mirrorFixture(): MirrorFixture {
  let server: GitHttpServer | undefined;
  let tmp: string | undefined;
  beforeEach(async () => {
    server = await startGitHttpServer({ token: TOKEN });
    tmp = mkdtempSync(join(tmpdir(), "sp-mirror-test-"));
  });
  afterEach(async () => {
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  const srv = () => {
    if (!server) throw new Error("mirrorFixture: used outside a test");
    return server;
  };
  const f: MirrorFixture = {
    get server() {
      return srv();
    },
    get mirrorsDir() {
      return join(tmp ?? "", "mirrors");
    },
    newCache: (opts = {}) =>
      new MirrorCache({
        dir: f.mirrorsDir,
        minIdleMs: 0,
        timeoutMs: 30_000,
        ...opts,
        allowedOrigin: opts.allowedOrigin ?? srv().url,
      }),
    source: (fullName, defaultBranch) => ({
      cloneUrl: srv().cloneUrl(fullName),
      fullName,
      ...(defaultBranch ? { defaultBranch } : {}),
    }),
    remote(fullName, files = { "compose.yaml": "services: {}\n" }) {
      const r = srv().createRepo(fullName);
      return { r, sha: r.commit(files, "initial") };
    },
    runChild(fullName, token, onReady) {
      const script = join(import.meta.dirname, "mirrorChild.ts");
      const child = spawn(
        process.execPath,
        [script, f.mirrorsDir, srv().cloneUrl(fullName), fullName, token],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes("ready\n")) onReady?.();
      });
      return new Promise((resolve, reject) => {
        child.on("error", reject);
        child.on("close", () => {
          try {
            resolve(JSON.parse(stdout));
          } catch {
            reject(new Error(`mirror child printed ${JSON.stringify(stdout)}: ${stderr}`));
          }
        });
      });
    },
  };
  return f;
}

/** A commit on a side branch of the work repo, pushed to `ref` only. */
export function commitOnlyAt(r: RemoteRepo, ref: string, files: Record<string, string>): string {
  const back = r.work.git("rev-parse", "--abbrev-ref", "HEAD");
  r.work.git("checkout", "-q", "-b", `side-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  r.work.write(files);
  const sha = r.work.commit("side");
  r.push(`+${sha}:${ref}`);
  r.work.git("checkout", "-q", back);
  return sha;
}

/** GitRepo.resolveCommit answers "" for some unknown refs: undefined either way here. */
export const commitOf = async (repo: GitRepo, ref: string): Promise<string | undefined> =>
  (await repo.resolveCommit(ref)) || undefined;

export const git = (dir: string, ...args: string[]) =>
  execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();

export function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

export function randomText(bytes: number): string {
  return execFileSync("head", ["-c", String(bytes), "/dev/urandom"]).toString("base64");
}
