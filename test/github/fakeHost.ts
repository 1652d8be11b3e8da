/**
 * A deploy host on this machine, for App tests that must see deploys succeed without sshd or
 * dockerd: every command line runs under `sh -c` as it would over SSH (the host's files live
 * under a scratch directory, which is the host's `root`), with `docker` and `docker-compose` on
 * the PATH replaced by small fakes: `up` remembers the release's services (from its manifest),
 * `ps`/`inspect` report them running, `down` forgets them.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { RemoteExec, RemoteExecOptions, RemoteResult } from "../../src/deploy/runner.ts";

export interface FakeHost extends RemoteExec {
  /** The host's release root (use as the host's `root`). */
  root: string;
  /** Every command line run, with its host name. */
  lines: { host: string; line: string }[];
}

const COMPOSE = `
const fs = require("node:fs"), path = require("node:path");
const args = process.argv.slice(2);
const opt = (n) => { const i = args.indexOf(n); return i < 0 ? undefined : args[i + 1]; };
const state = process.env.FAKE_DOCKER_STATE;
const project = opt("--project-name");
const file = path.join(state, project + ".json");
if (args.includes("up")) {
  let dir = opt("--project-directory");
  while (!fs.existsSync(path.join(dir, ".stackpilot", "release.json"))) {
    if (dir === path.dirname(dir)) { console.error("no release manifest above the project directory"); process.exit(1); }
    dir = path.dirname(dir);
  }
  const m = JSON.parse(fs.readFileSync(path.join(dir, ".stackpilot", "release.json"), "utf8"));
  fs.writeFileSync(file, JSON.stringify(m.services));
} else if (args.includes("down")) fs.rmSync(file, { force: true });
`;

const DOCKER = `
const fs = require("node:fs"), path = require("node:path"), crypto = require("node:crypto");
const args = process.argv.slice(2);
const state = process.env.FAKE_DOCKER_STATE;
const id = (p, s) => crypto.createHash("sha256").update(p + "/" + s).digest("hex");
const running = () => fs.readdirSync(state).filter((f) => f.endsWith(".json"))
  .flatMap((f) => JSON.parse(fs.readFileSync(path.join(state, f), "utf8")).map((s) => [f.slice(0, -5), s]));
if (args[0] === "ps") {
  const label = (args[args.indexOf("--filter") + 1] || "").split("=").pop();
  for (const [p, s] of running()) if (p === label) console.log(id(p, s));
} else if (args[0] === "inspect") {
  const ids = args.slice(args.indexOf("--") + 1);
  for (const [p, s] of running())
    if (ids.includes(id(p, s)))
      console.log([id(p, s), "/" + p + "-" + s + "-1", s, JSON.stringify({ Status: "running", ExitCode: 0 })].join("\\t"));
} else if (args[0] === "compose") process.exit(1);
`;

export function fakeHost(dir: string): FakeHost {
  const root = join(dir, "srv");
  const bin = join(dir, "bin");
  const state = join(dir, "docker");
  for (const d of [root, bin, state]) mkdirSync(d, { recursive: true });
  for (const [name, code] of [
    ["docker-compose", COMPOSE],
    ["docker", DOCKER],
  ] as const) {
    writeFileSync(join(bin, name), `#!${process.execPath}\n${code}`);
    chmodSync(join(bin, name), 0o755);
  }
  const lines: FakeHost["lines"] = [];
  return {
    root,
    lines,
    exec(host: string, line: string, opts: RemoteExecOptions = {}): Promise<RemoteResult> {
      lines.push({ host, line });
      const started = performance.now();
      return new Promise((resolve, reject) => {
        const child = spawn("sh", ["-c", line], {
          cwd: root,
          env: { PATH: `${bin}:${process.env.PATH}`, FAKE_DOCKER_STATE: state, HOME: dir },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d: string) => {
          stdout += d;
        });
        child.stderr.setEncoding("utf8").on("data", (d: string) => {
          stderr += d;
        });
        child.on("error", reject);
        child.on("close", (code) =>
          resolve({ code, stdout, stderr, durationMs: performance.now() - started }),
        );
        child.stdin.on("error", () => {}); // a command that does not read its stdin
        const input = opts.stdin;
        if (input === undefined) child.stdin.end();
        else if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
        else (input as Readable).pipe(child.stdin);
      });
    },
  };
}
