/**
 * A real git smart-HTTP server (on loopback unless told otherwise): a Node `http` server that demands
 * `Authorization: Basic base64(x-access-token:TOKEN)` (401 otherwise) and runs `git http-backend`
 * as a CGI program for everything else. Repositories are bare repos under `root/<owner>/<name>.git`.
 * Counts requests, so tests can prove how many fetches reached the server, and can hold fetches at
 * the door to make races deterministic.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TestRepo } from "./gitRepo.ts";

export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  /** `owner/name` from the path, when it names a repository. */
  fullName: string | undefined;
  authorized: boolean;
  status: number;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** GIT_PROJECT_ROOT. */
  readonly root: string;
  /** The token the server accepts; change it to simulate a rotated installation token. */
  token: string;
  readonly requests: RecordedRequest[];
  /** What a webhook payload's `repository.clone_url` would say. */
  cloneUrl(fullName: string): string;
  /** A bare repository served at `fullName`, and a work repo whose pushes land in it. */
  createRepo(fullName: string): RemoteRepo;
  /** Authorized fetches (one `GET info/refs?service=git-upload-pack` per clone or fetch) of a repo, or of all. */
  fetches(fullName?: string): number;
  /** Fetch requests currently being served (held or running). */
  readonly inFlight: number;
  /** Most fetches in flight at once since start (or since `resetCounters`). */
  readonly maxInFlight: number;
  resetCounters(): void;
  /**
   * From now on, new `info/refs` requests wait at the door until the returned function is
   * called. `arrived` resolves once `n` requests are waiting.
   */
  hold(): { arrived(n: number): Promise<void>; waiting(): number; release(): void };
  close(): Promise<void>;
}

export class RemoteRepo {
  readonly fullName: string;
  readonly bareDir: string;
  readonly work: TestRepo;

  constructor(fullName: string, bareDir: string) {
    this.fullName = fullName;
    this.bareDir = bareDir;
    mkdirSync(bareDir, { recursive: true });
    execFileSync("git", ["init", "-q", "--bare", "-b", "main", bareDir]);
    this.work = new TestRepo();
  }

  /** Commit the files on the work repo's current branch and push it (forced) to the server. */
  commit(files: Record<string, string | null>, message = "change", branch = "main"): string {
    this.work.write(files);
    const sha = this.work.commit(message);
    this.push(`+${sha}:refs/heads/${branch}`);
    return sha;
  }

  /** `git push` of refspecs from the work repo into the served bare repo. */
  push(...refspecs: string[]): void {
    this.work.git("push", "-q", this.bareDir, ...refspecs);
  }

  /** Run git in the served bare repo. */
  bareGit(...args: string[]): string {
    return execFileSync("git", args, { cwd: this.bareDir, encoding: "utf8" }).trim();
  }
}

export async function startGitHttpServer(opts: {
  token: string;
  /**
   * Requests under `/api/` go here instead (a simulated GitHub API on the same origin, as GitHub
   * Enterprise serves both: see fakeGitHub.ts).
   */
  api?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** The address to listen on (default loopback; a harness bridge address for containers on test hosts). */
  host?: string;
}): Promise<GitHttpServer> {
  const root = mkdtempSync(join(tmpdir(), "sp-githttp-"));
  const requests: RecordedRequest[] = [];
  const work: RemoteRepo[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let gate: { waiters: (() => void)[]; onArrive: (() => void)[] } | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });

  const api: GitHttpServer = {
    url: "",
    root,
    token: opts.token,
    requests,
    cloneUrl: (fullName) => `${api.url}/${fullName}.git`,
    createRepo(fullName) {
      const repo = new RemoteRepo(fullName, join(root, `${fullName}.git`));
      work.push(repo);
      return repo;
    },
    fetches: (fullName) =>
      requests.filter(
        (r) =>
          r.authorized &&
          r.method === "GET" &&
          r.path.endsWith("/info/refs") &&
          r.query.includes("service=git-upload-pack") &&
          (fullName === undefined || r.fullName === fullName),
      ).length,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    resetCounters() {
      requests.length = 0;
      maxInFlight = inFlight;
    },
    hold() {
      const g: NonNullable<typeof gate> = { waiters: [], onArrive: [] };
      gate = g;
      return {
        waiting: () => g.waiters.length,
        arrived: (n) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (g.waiters.length >= n) resolve();
              else g.onArrive.push(check);
            };
            check();
          }),
        release() {
          if (gate === g) gate = undefined;
          for (const w of g.waiters.splice(0)) w();
        },
      };
    },
    async close() {
      gate?.waiters.splice(0).forEach((w) => {
        w();
      });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const r of work) r.work.remove();
      rmSync(root, { recursive: true, force: true });
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = decodeURIComponent(url.pathname);
    if (opts.api && path.startsWith("/api/")) return opts.api(req, res);
    const query = url.search.slice(1);
    const fullName = /^\/([^/]+\/[^/]+?)\.git\//.exec(path)?.[1];
    const expected = `Basic ${Buffer.from(`x-access-token:${api.token}`).toString("base64")}`;
    const authorized = req.headers.authorization === expected;
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      path,
      query,
      fullName,
      authorized,
      status: 0,
    };
    requests.push(record);
    if (!authorized) {
      record.status = 401;
      req.resume();
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain" });
      res.end("authentication required\n");
      return;
    }
    const isFetchStart = path.endsWith("/info/refs") && query.includes("service=git-upload-pack");
    if (isFetchStart) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on("close", () => {
        inFlight--;
      });
      const g = gate;
      if (g) {
        await new Promise<void>((resolve) => {
          g.waiters.push(resolve);
          for (const f of g.onArrive.splice(0)) f();
        });
      }
    }
    await runBackend(req, res, path, query, record);
  }

  function runBackend(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: string,
    record: RecordedRequest,
  ): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: root,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: path,
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? "GET",
      REMOTE_USER: "x-access-token",
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      SERVER_PROTOCOL: "HTTP/1.1",
      GATEWAY_INTERFACE: "CGI/1.1",
      // Lets clients fetch any commit by id (GitHub serves commits a force push left behind).
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "uploadpack.allowAnySHA1InWant",
      GIT_CONFIG_VALUE_0: "true",
    };
    if (req.headers["content-type"]) env.CONTENT_TYPE = req.headers["content-type"];
    if (req.headers["content-length"]) env.CONTENT_LENGTH = req.headers["content-length"];
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === "authorization" || value === undefined) continue;
      env[`HTTP_${name.toUpperCase().replaceAll("-", "_")}`] = Array.isArray(value)
        ? value.join(", ")
        : value;
    }
    return new Promise((resolve, reject) => {
      const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
      req.pipe(child.stdin);
      child.stdin.on("error", () => {});
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString();
      });
      let head = Buffer.alloc(0);
      let headersDone = false;
      child.stdout.on("data", (chunk: Buffer) => {
        if (headersDone) {
          res.write(chunk);
          return;
        }
        head = Buffer.concat([head, chunk]);
        const crlf = head.indexOf("\r\n\r\n");
        const lf = head.indexOf("\n\n");
        const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
        if (end < 0) return;
        const sepLen = end === crlf ? 4 : 2;
        let status = 200;
        const headers: Record<string, string> = {};
        for (const line of head.subarray(0, end).toString("latin1").split(/\r?\n/)) {
          const colon = line.indexOf(":");
          if (colon < 0) continue;
          const name = line.slice(0, colon).trim();
          const value = line.slice(colon + 1).trim();
          if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
          else headers[name] = value;
        }
        record.status = status;
        res.writeHead(status, headers);
        headersDone = true;
        const rest = head.subarray(end + sepLen);
        if (rest.length > 0) res.write(rest);
      });
      child.on("error", reject);
      child.on("close", (code) => {
        if (!headersDone) {
          record.status = 500;
          res.writeHead(500, { "Content-Type": "text/plain" });
          res.end(`git http-backend exited ${code}: ${stderr}`);
        } else res.end();
        resolve();
      });
    });
  }

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  (api as { url: string }).url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return api;
}
