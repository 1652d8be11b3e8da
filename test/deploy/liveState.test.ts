/**
 * Drift detection's reading of a host: the probe script through a real `sh` with a fake `docker`
 * on the PATH (what it runs, in how many processes, what it prints), the parser of its reply, and
 * the pure comparison with a record, for every kind of difference. The real docker's side is in
 * test/e2e/drift.test.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HostConfig } from "../../src/config/hostsFile.ts";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { type LiveContainer, liveProbe, parseLiveProbe } from "../../src/deploy/commands/live.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { expectedOf } from "../../src/deploy/health.ts";
import { checkLive, compareLive, type LiveRecord } from "../../src/deploy/liveState.ts";
import { type RemoteExec, type RemoteResult, Runner } from "../../src/deploy/runner.ts";
import { type Argv, commandLine } from "../../src/deploy/shell.ts";
import type { ExpectedContainers } from "../../src/state/deployed.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-live-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const A = "a".repeat(40);
const B = "b".repeat(40);
const HASH = "c".repeat(64);
const IMAGE = `sha256:${"d".repeat(64)}`;

/**
 * A fake `docker`: logs its argv (one line per call), `ps` prints `ps.out` (or fails when
 * `ps.fail` exists), `inspect` prints `inspect.out`, failing once while `inspect.fail` exists.
 */
function fakeDocker(): { env: NodeJS.ProcessEnv; calls: () => string[][] } {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "docker"),
    `#!/bin/sh
for a in "$@"; do printf '%s\\037' "$a"; done >> '${dir}/docker.log'; echo >> '${dir}/docker.log'
case "$1" in
  ps) [ -e '${dir}/ps.fail' ] && { echo 'Cannot connect to the Docker daemon' >&2; exit 1; }; cat '${dir}/ps.out' ;;
  inspect) [ -e '${dir}/inspect.fail' ] && { rm '${dir}/inspect.fail'; echo 'No such object' >&2; exit 1; }; cat '${dir}/inspect.out' ;;
esac
`,
  );
  chmodSync(join(bin, "docker"), 0o755);
  return {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    calls: () => {
      try {
        return readFileSync(join(dir, "docker.log"), "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split("\x1f").slice(0, -1));
      } catch {
        return [];
      }
    },
  };
}

function sh(argv: Argv, env: NodeJS.ProcessEnv) {
  const r = spawnSync("sh", ["-c", commandLine(argv)], { env });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** One `docker inspect` line as CONTAINER_FORMAT renders it. */
function inspectLine(c: Partial<LiveContainer> & { name: string }): string {
  return [
    "C",
    JSON.stringify(`/${c.name}`),
    JSON.stringify(c.project ?? "web"),
    JSON.stringify(c.service ?? "web"),
    JSON.stringify(c.oneoff ? "True" : "False"),
    JSON.stringify(c.configHash ?? HASH),
    JSON.stringify(c.image ?? IMAGE),
    JSON.stringify(c.status ?? "running"),
    String(c.exitCode ?? 0),
  ].join("\t");
}

describe("the probe script", () => {
  it("reads every current link and the projects' containers (no others) with one docker ps and one docker inspect", () => {
    const docker = fakeDocker();
    const web = stackPaths(dir, "web");
    mkdirSync(web.release(A), { recursive: true });
    symlinkSync(`releases/${A}`, web.current);
    // A link path with a space, a quote and a command substitution stays one argument.
    const odd = join(dir, "it's $(touch pwned)", "current");
    // Another project, and one whose label would match a careless pattern.
    writeFileSync(join(dir, "ps.out"), "id1 web\nid2 api\nid3 other\nid4 *\nid5 web api\n");
    writeFileSync(join(dir, "inspect.out"), `${inspectLine({ name: "web-web-1" })}\n`);
    const argv = liveProbe([web.current, odd], ["web", "api"]);
    const r = sh(argv, docker.env);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe(
      `L\t${web.current}\treleases/${A}\nL\t${odd}\t\n${inspectLine({ name: "web-web-1" })}\n`,
    );
    const [ps, inspect, ...more] = docker.calls();
    expect(more).toEqual([]);
    // Docker ANDs label filters: one ps lists every compose container with its project.
    expect(ps).toEqual([
      "ps",
      "--all",
      "--no-trunc",
      "--filter",
      "label=com.docker.compose.project",
      "--format",
      '{{.ID}} {{.Label "com.docker.compose.project"}}',
    ]);
    expect(inspect?.slice(0, 2)).toEqual(["inspect", "--format"]);
    expect(inspect?.[2]).toContain('{{json (index .Config.Labels "com.docker.compose.config-hash")}}');
    expect(inspect?.slice(3)).toEqual(["--", "id1", "id2"]);
    expect(spawnSync("ls", [dir]).stdout.toString()).not.toContain("pwned");
  });

  it("asks docker nothing without projects, and nothing more than ps when they have no container", () => {
    const docker = fakeDocker();
    expect(sh(liveProbe([join(dir, "x/current")], []), docker.env)).toMatchObject({
      code: 0,
      stdout: `L\t${join(dir, "x/current")}\t\n`,
    });
    expect(docker.calls()).toEqual([]);
    writeFileSync(join(dir, "ps.out"), "id3 other\n");
    expect(sh(liveProbe([], ["web"]), docker.env)).toMatchObject({ code: 0, stdout: "" });
    expect(docker.calls().map((c) => c[0])).toEqual(["ps"]);
  });

  it("lists and inspects once more when a container vanished in between, and exits 3 when docker does not answer", () => {
    const docker = fakeDocker();
    writeFileSync(join(dir, "ps.out"), "id1 web\n");
    writeFileSync(join(dir, "inspect.out"), `${inspectLine({ name: "web-web-1" })}\n`);
    writeFileSync(join(dir, "inspect.fail"), "");
    const r = sh(liveProbe([], ["web"]), docker.env);
    expect(r).toMatchObject({ code: 0, stdout: `${inspectLine({ name: "web-web-1" })}\n` });
    expect(docker.calls().map((c) => c[0])).toEqual(["ps", "inspect", "ps", "inspect"]);

    writeFileSync(join(dir, "ps.fail"), "");
    const down = sh(liveProbe([], ["web"]), docker.env);
    expect(down.code).toBe(3);
    expect(down.stderr).toContain("Cannot connect to the Docker daemon");
  });
});

describe("the probe's reply", () => {
  it("parses links and containers, labels through JSON so a tab in a label cannot forge a line", () => {
    const forged = inspectLine({ name: "x", service: "web\tC\tfake" });
    const r = parseLiveProbe(`L\t/srv/web/current\treleases/${A}\nL\t/srv/api/current\t\n${forged}\n`);
    expect(r.currents).toEqual(
      new Map([
        ["/srv/web/current", A],
        ["/srv/api/current", null],
      ]),
    );
    expect(r.containers).toEqual([
      {
        name: "x",
        project: "web",
        service: "web\tC\tfake",
        oneoff: false,
        configHash: HASH,
        image: IMAGE,
        status: "running",
        exitCode: 0,
      },
    ]);
  });

  it("refuses garbage and a reply cut at the runner's limit", () => {
    expect(() => parseLiveProbe("<html>502</html>\n")).toThrow("unexpected reply, line 1");
    expect(() => parseLiveProbe(`${inspectLine({ name: "x", status: "sleeping" as "running" })}\n`)).toThrow(
      "unexpected reply",
    );
    expect(() => parseLiveProbe(`${inspectLine({ name: "x" })}\n[... 12 characters cut]`)).toThrow(
      "too many containers",
    );
  });
});

const expected: ExpectedContainers = {
  project: "web",
  services: {
    web: { configHash: HASH, image: IMAGE, containers: 1 },
    worker: { configHash: HASH, image: IMAGE, containers: 1 },
  },
};
const record: LiveRecord = { stack: "web", host: "h1", commit: A, release: A, expected };
const link = "/srv/web/current";
const running = (service: string, extra: Partial<LiveContainer> = {}): LiveContainer => ({
  name: `web-${service}-1`,
  project: "web",
  service,
  oneoff: false,
  configHash: HASH,
  image: IMAGE,
  status: "running",
  exitCode: 0,
  ...extra,
});
const reading = (containers: LiveContainer[], current: string | null = A) => ({
  currents: new Map([[link, current]]),
  containers,
});
const differences = (containers: LiveContainer[], current: string | null = A) =>
  compareLive(record, link, reading(containers, current));

describe("comparing a record with its host", () => {
  it("is in sync when current, containers, images and config are as recorded; other projects do not count", () => {
    expect(
      differences([running("web"), running("worker"), running("web", { project: "other", name: "o" })]),
    ).toEqual({ state: "in_sync" });
  });

  it("says in words what differs, one line each", () => {
    expect(
      differences(
        [
          running("web", { image: `sha256:${"e".repeat(64)}` }),
          running("worker", { status: "exited", exitCode: 137 }),
          running("cron", { name: "web-cron-1" }),
        ],
        B,
      ),
    ).toEqual({
      state: "drifted",
      healable: true,
      differences: [
        `current points at ${B.slice(0, 7)}, recorded ${A.slice(0, 7)}`,
        "web: image differs",
        "worker: not running (exited 137)",
        "extra container web-cron-1",
      ],
    });
  });

  it("reports a missing current, a missing container, changed config, stopped replicas and a different count", () => {
    expect(differences([running("web", { configHash: "f".repeat(64) })], null)).toMatchObject({
      differences: [
        `no current release (recorded ${A.slice(0, 7)})`,
        "web: config differs",
        "worker: no container",
      ],
    });
    expect(
      differences([
        running("web"),
        running("worker"),
        running("worker", { name: "web-worker-2", status: "paused" }),
      ]),
    ).toMatchObject({
      differences: ["worker: 1 of 2 containers not running", "worker: 2 containers, deployed with 1"],
    });
  });

  it("calls only one-off containers (compose run) not healable", () => {
    const oneoff = running("web", { oneoff: true, name: "web_web_run_1" });
    expect(differences([running("web"), running("worker"), oneoff])).toEqual({
      state: "drifted",
      healable: false,
      differences: ["extra container web_web_run_1 (one-off, from `run`)"],
    });
    expect(differences([running("web"), oneoff])).toMatchObject({ healable: true });
  });

  it("compares only current where the record has no containers, and nothing a deploy could not tell", () => {
    expect(compareLive({ ...record, expected: null }, link, reading([]))).toEqual({
      state: "in_sync",
      notes: [expect.stringContaining("containers not compared")],
    });
    expect(compareLive({ ...record, expected: null }, link, reading([], B))).toMatchObject({
      state: "drifted",
    });
    const unknown = { project: "web", services: { web: { configHash: "", image: "", containers: 1 } } };
    expect(
      compareLive({ ...record, expected: unknown }, link, reading([running("web", { configHash: "x" })])),
    ).toEqual({ state: "in_sync" });
    // A record from before releases were stored: the release is its commit.
    expect(
      compareLive({ ...record, release: null }, link, reading([running("web"), running("worker")])),
    ).toEqual({ state: "in_sync" });
  });

  it("is unreachable when the host could not be read", () => {
    expect(compareLive(record, link, { error: "h1: connect ECONNREFUSED" })).toEqual({
      state: "unreachable",
      error: "h1: connect ECONNREFUSED",
    });
  });
});

describe("what a deploy records", () => {
  it("takes each service's config hash, image and count from the final health poll, without compose run's", () => {
    const state = (service: string, configHash: string) => ({
      id: "a".repeat(64),
      name: `p-${service}-1`,
      service,
      status: "running" as const,
      exitCode: 0,
      health: "" as const,
      configHash,
      image: IMAGE,
    });
    expect(
      expectedOf("p", ["web", "db"], [state("web", HASH), state("db", HASH), state("db", "9".repeat(64))]),
    ).toEqual({
      project: "p",
      services: {
        web: { configHash: HASH, image: IMAGE, containers: 1 },
        // Its two containers disagree: "" is compared with nothing later.
        db: { configHash: "", image: IMAGE, containers: 2 },
      },
    });
  });
});

describe("checking many records", () => {
  const host = (name: string): HostConfig =>
    HostSchema.parse({ name, address: "192.0.2.1", root: `${dir}/${name}` }) as HostConfig;

  it("sends one command per host for all its stacks, through a real sh, and marks hosts it cannot read", async () => {
    const docker = fakeDocker();
    const lines: string[] = [];
    const exec: RemoteExec = {
      exec: (h, line) => {
        lines.push(`${h}: ${line.slice(0, 20)}`);
        if (h === "h2") return Promise.reject(new Error("h2: connect ETIMEDOUT"));
        return new Promise<RemoteResult>((resolve) => {
          const child = spawn("sh", ["-c", line], { env: docker.env });
          let stdout = "";
          child.stdout.on("data", (d: Buffer) => {
            stdout += d;
          });
          child.on("close", (code) => resolve({ code, stdout, stderr: "", durationMs: 1 }));
        });
      },
    };
    for (const stack of ["web", "api"]) {
      const p = stackPaths(`${dir}/h1`, stack);
      mkdirSync(p.release(A), { recursive: true });
      symlinkSync(`releases/${A}`, p.current);
    }
    writeFileSync(join(dir, "ps.out"), "id1 web\nid2 api\n");
    writeFileSync(
      join(dir, "inspect.out"),
      `${inspectLine({ name: "web-web-1" })}\n${inspectLine({ name: "api-api-1", project: "api", service: "api" })}\n`,
    );
    const one = (project: string) => ({
      project,
      services: { [project]: { configHash: HASH, image: IMAGE, containers: 1 } },
    });
    const records: LiveRecord[] = [
      { stack: "web", host: "h1", commit: A, release: A, expected: one("web") },
      { stack: "api", host: "h1", commit: A, release: A, expected: one("api") },
      { stack: "web", host: "h2", commit: A, release: A, expected: one("web") },
      { stack: "web", host: "h9", commit: A, release: A, expected: one("web") },
    ];
    const verdicts = await checkLive(new Runner(exec), [host("h1"), host("h2")], records, {
      hostsFile: "hosts.yml",
    });
    expect(verdicts).toEqual([
      { state: "in_sync" },
      { state: "in_sync" },
      { state: "unreachable", error: "h2: connect ETIMEDOUT" },
      { state: "unreachable", error: "h9 is not in hosts.yml" },
    ]);
    expect(lines.map((l) => l.split(":")[0]).sort()).toEqual(["h1", "h2"]);
    expect(docker.calls().map((c) => c[0])).toEqual(["ps", "inspect"]);
  });
});
