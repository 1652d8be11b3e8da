// biome-ignore-all lint/suspicious/noTemplateCurlyInString: a compose file under test uses Compose's ${VAR} syntax.
/**
 * HostDeployer against a local "host": every remote command line runs through a local `sh -c`
 * (as sshd would run it), with fake `docker` and `docker-compose` on the PATH. Checks which round
 * trips a deploy makes and what they leave on disk; the real thing is test/e2e/hostDeploy.test.ts.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { releaseArchives } from "../../src/deploy/archiveCache.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { HostDeployer, type HostTarget } from "../../src/deploy/hostDeploy.ts";
import { ReleaseManifest } from "../../src/deploy/release.ts";
import { type CommandRecord, Runner } from "../../src/deploy/runner.ts";
import { buildSnapshot, ParseCache } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { localExec } from "../helpers/localExec.ts";

let tmp: string;
let repoDir: string;
let repo: GitRepo;
let env: NodeJS.ProcessEnv;
const cache = new ParseCache();

const git = (...args: string[]) =>
  execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], {
    cwd: repoDir,
    encoding: "utf8",
  }).trim();

/** Runs command lines here, as the SSH server would on a host. */
const local = localExec(() => env);

function deployer(records: CommandRecord[]) {
  return new HostDeployer(new Runner(local, { onRecord: (r) => records.push(r) }), {
    healthTimeoutMs: 2_000,
    healthPollMs: 50,
  });
}

async function deploy(root: string, records: CommandRecord[] = [], signal?: AbortSignal) {
  const commit = git("rev-parse", "HEAD");
  const snap = await buildSnapshot(repo, commit, await repo.lsTree(commit), cache);
  const stack = snap.stacks.get("whoami");
  if (!stack) throw new Error("no whoami stack");
  const host: HostTarget = { name: "local", root, compose: "v1", allowedMountRoots: [] };
  const result = await deployer(records).deploy({
    repoDir,
    commit,
    stack,
    host,
    holder: "unit",
    pullServices: [],
    ...(signal ? { signal } : {}),
  });
  return { result, commit, records, paths: stackPaths(root, "whoami") };
}

/** The lock's fence around a command that changes the host (commands/lock.ts `fenced`). */
const FENCE = /^sh -c '\[ "\$\(cat -- "\$1\/nonce" .*?exec "\$@"' sh \S+ [0-9a-f]+ /;

/** What each recorded command was, by its opening (inside the lock's fence, if any). */
const kinds = (records: readonly CommandRecord[]) =>
  records.map((r) => {
    const line = r.line.replace(FENCE, "");
    if (line.includes('t="$2.new.$$"')) return "lock";
    if (line.startsWith("sh -c 's=$1 r=$2")) return "upload";
    if (line.startsWith("docker-compose ")) return `compose ${line.match(/ (up|down|logs|pull)( |$)/)?.[1]}`;
    if (line.startsWith("sh -c 'ids=$(docker ps")) return "health";
    // The prune and the unlock in one round trip (commands/lock.ts thenUnlock).
    if (line.startsWith(`sh -c 'l=$1; shift; "$@"; s=$?; rm -rf`) && line.includes("k=$2"))
      return "prune+unlock";
    if (line.startsWith('sh -c \'cd -- "$1" 2>/dev/null || exit 0; k=$2')) return "prune";
    if (line.startsWith("sh -c 'touch -c")) return "switch";
    if (line.startsWith("rm -rf -- ") && line.endsWith("/.lock")) return "unlock";
    return line;
  });

/** Commands that change the host and yet ran outside the lock's fence (there must be none). */
const unfenced = (records: readonly CommandRecord[]) =>
  records.filter(
    (r, i) =>
      [
        "upload",
        "compose up",
        "compose down",
        "compose pull",
        "prune",
        "prune+unlock",
        "switch",
        "unlock",
      ].includes(kinds(records)[i] as string) && !FENCE.test(r.line),
  );

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "sp-local-deploy-"));
  repoDir = join(tmp, "repo");
  execFileSync("sh", ["fixtures/build-monorepo.sh", repoDir]);
  repo = new GitRepo(repoDir);
  const bin = join(tmp, "bin");
  mkdirSync(bin);
  // `docker ps` finds one container; `docker inspect` says it runs, or exited when the release
  // `current` names on a host (h1, h2, ...) has a file BROKEN.
  writeFileSync(
    join(bin, "docker"),
    `#!/bin/sh\ncase "$1" in\nps) echo ${"a".repeat(64)} ;;\n` +
      `inspect) s='{"Status":"running","ExitCode":0}'; for f in "${tmp}"/h*/whoami/current/services/whoami/BROKEN; do [ -e "$f" ] && s='{"Status":"exited","ExitCode":1}'; done\n` +
      `  printf '%s\\t/whoami-1\\twhoami\\t%s\\n' ${"a".repeat(64)} "$s" ;;\nesac\n`,
  );
  writeFileSync(join(bin, "docker-compose"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(bin, "docker"), 0o755);
  chmodSync(join(bin, "docker-compose"), 0o755);
  env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("a deploy's round trips", () => {
  it("locks (reading current), uploads and switches, ups, checks health, prunes and unlocks: five round trips", async () => {
    const root = join(tmp, "h1");
    const spawned = releaseArchives.spawned;
    const first = await deploy(root);
    expect(first.result.status, first.result.error).toBe("succeeded");
    expect(first.result.previousRelease).toBeUndefined();
    expect(kinds(first.records)).toEqual(["lock", "upload", "compose up", "health", "prune+unlock"]);
    expect(unfenced(first.records)).toEqual([]);
    const { paths, commit } = first;
    expect(readlinkSync(paths.current)).toBe(`releases/${commit}`);
    const manifest = ReleaseManifest.parse(
      JSON.parse(readFileSync(join(paths.release(commit), ".stackpilot/release.json"), "utf8")),
    );
    expect(manifest).toMatchObject({ commit, stack: "whoami", services: ["whoami"] });
    expect(readFileSync(join(paths.release(commit), "services/whoami/docker-compose.yml"), "utf8")).toContain(
      "whoami:",
    );

    // A second host deploying the same commit reuses the archive; a new commit's deploy knows
    // the release it replaces from the lock's round trip.
    const second = await deploy(join(tmp, "h2"));
    expect(second.result.status).toBe("succeeded");
    expect(releaseArchives.spawned - spawned).toBe(1);
    git("commit", "-q", "--allow-empty", "-m", "empty");
    writeFileSync(join(repoDir, "services/whoami/note.txt"), "v2\n");
    git("add", "-A");
    git("commit", "-qm", "v2");
    const next = await deploy(root);
    expect(next.result).toMatchObject({ status: "succeeded", previousRelease: commit });
    expect(kinds(next.records)).toEqual(["lock", "upload", "compose up", "health", "prune+unlock"]);
  });

  it("streams an archive too big to keep in memory from its own git archive", async () => {
    const big = randomBytes(5 * 1024 * 1024);
    writeFileSync(join(repoDir, "services/whoami/big.bin"), big);
    git("add", "-A");
    git("commit", "-qm", "big");
    const { result, paths, commit } = await deploy(join(tmp, "h1"));
    expect(result.status, result.error).toBe("succeeded");
    expect(result.uploadBytes).toBeGreaterThan(5 * 1024 * 1024);
    const landed = readFileSync(join(paths.release(commit), "services/whoami/big.bin"));
    const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    expect(sha(landed)).toBe(sha(big));
    git("rm", "-q", "services/whoami/big.bin");
    git("commit", "-qm", "no big");
  });

  it("rolls back to the release the lock saw when the new one is unhealthy", async () => {
    const root = join(tmp, "h1");
    const before = readlinkSync(stackPaths(root, "whoami").current);
    writeFileSync(join(repoDir, "services/whoami/BROKEN"), "");
    git("add", "-A");
    git("commit", "-qm", "broken");
    const { result, records, paths } = await deploy(root);
    expect(result.status, result.error).toBe("rolled_back");
    expect(`releases/${result.previousRelease}`).toBe(before);
    expect(readlinkSync(paths.current)).toBe(before);
    expect(kinds(records)).toEqual([
      "lock",
      "upload",
      "compose up",
      "health",
      "compose logs",
      `test -d ${paths.release(result.previousRelease as string)}`,
      `cat -- ${paths.release(result.previousRelease as string)}/.stackpilot/release.json`,
      "switch",
      "compose up",
      "health",
      "unlock",
    ]);
  });

  it("a redeploy of the release that runs, failing its health check, leaves that release up and uploads nothing", async () => {
    const root = join(tmp, "h3");
    git("rm", "-q", "--ignore-unmatch", "services/whoami/BROKEN");
    git("commit", "-q", "--allow-empty", "-m", "healthy again");
    const first = await deploy(root);
    expect(first.result.status, first.result.error).toBe("succeeded");
    const { paths, commit } = first;
    // What runs turns unhealthy on its own; then the same commit is deployed again (say --force).
    writeFileSync(join(paths.release(commit), "services/whoami/BROKEN"), "");
    const again = await deploy(root);
    expect(again.result).toMatchObject({ status: "failed", previousRelease: commit, uploadBytes: 0 });
    expect(kinds(again.records)).toEqual([
      "lock",
      `cat -- ${paths.release(commit)}/.stackpilot/release.json`,
      "compose up",
      "health",
      "compose logs",
      "unlock",
    ]);
    expect(readlinkSync(paths.current)).toBe(`releases/${commit}`);
    rmSync(join(paths.release(commit), "services/whoami/BROKEN"));
  });

  it("a deploy whose database lock is lost stops before its next change: no compose up, lock released", async () => {
    const lost = new AbortController();
    const records: CommandRecord[] = [];
    git("commit", "-q", "--allow-empty", "-m", "another");
    const watched = new Proxy(records, {
      get(target, prop) {
        if (prop === "push")
          return (r: CommandRecord) => {
            if (kinds([r])[0] === "upload") lost.abort(new Error("lost the lock deploy:test"));
            return target.push(r);
          };
        return Reflect.get(target, prop);
      },
    });
    const failed = await deploy(join(tmp, "h4"), watched, lost.signal).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toBe("lost the lock deploy:test");
    expect(kinds(records)).toEqual(["lock", "upload", "unlock"]);
  });
});

describe("host paths in a release", () => {
  it("carries a symlink and what it points at, so the link works inside the release", async () => {
    mkdirSync(join(repoDir, "shared/whoami-conf"), { recursive: true });
    writeFileSync(join(repoDir, "shared/whoami-conf/app.conf"), "greeting=hi\n");
    symlinkSync("../../shared/whoami-conf", join(repoDir, "services/whoami/conf"));
    git("add", "-A");
    git("commit", "-qm", "linked conf");
    const { result, paths, commit } = await deploy(join(tmp, "h3"));
    expect(result.status, result.error).toBe("succeeded");
    const release = paths.release(commit);
    expect(readlinkSync(join(release, "services/whoami/conf"))).toBe("../../shared/whoami-conf");
    expect(readFileSync(join(release, "services/whoami/conf/app.conf"), "utf8")).toBe("greeting=hi\n");
    // Through the link, the path stays inside the release.
    expect(realpathSync(join(release, "services/whoami/conf")).startsWith(realpathSync(release))).toBe(true);
  });

  it("refuses a mount the repository cannot resolve before any command, even where / is allowed", async () => {
    writeFileSync(
      join(repoDir, "services/whoami/docker-compose.yml"),
      "services:\n  whoami:\n    image: traefik/whoami\n    volumes: ['${NOWHERE}:/host']\n",
    );
    git("add", "-A");
    git("commit", "-qm", "unresolved mount");
    const commit = git("rev-parse", "HEAD");
    const snap = await buildSnapshot(repo, commit, await repo.lsTree(commit), cache);
    const stack = snap.stacks.get("whoami");
    if (!stack) throw new Error("no whoami stack");
    const records: CommandRecord[] = [];
    const host: HostTarget = {
      name: "local",
      root: join(tmp, "h4"),
      compose: "v1",
      allowedMountRoots: ["/"],
    };
    await expect(
      deployer(records).deploy({ repoDir, commit, stack, host, holder: "unit", pullServices: [] }),
    ).rejects.toThrow(
      "whoami cannot be deployed to local: services/whoami/docker-compose.yml:4:15 service whoami mounts ${NOWHERE}: ${NOWHERE} cannot be resolved from the repository",
    );
    expect(records).toEqual([]);
    git("revert", "--no-edit", "HEAD");
  });
});

describe("a deploy's hooks", () => {
  it("each `true` hook adds one round trip per target; with one before the switch, upload and switch part", async () => {
    const config = join(repoDir, ".github/stackpilot.yml");
    const before = readFileSync(config, "utf8");
    writeFileSync(
      config,
      before.replace(
        "defaults:\n",
        'defaults:\n  hooks:\n    post_sync: { run: ["true"] }\n    pre_deploy: { run: ["true"] }\n    post_deploy: { run: ["true"] }\n',
      ),
    );
    git("add", "-A");
    git("commit", "-qm", "hooks");
    const root = join(tmp, "h5");
    const { result, records, paths, commit } = await deploy(root);
    expect(result.status, result.error).toBe("succeeded");
    const hookKinds = kinds(records).map((k, i) => {
      if (k.startsWith("sh -c 'd=$1 t=$2 k=$3 n=$4")) return "hook";
      // The switch and `up` in one round trip (commands/release.ts switchAndRun).
      if (k === "switch" && / docker-compose .* up /.test(records[i]?.line ?? "")) return "switch+up";
      return k;
    });
    // Without hooks: lock, upload (+switch), compose up, health, prune (+unlock).
    expect(hookKinds).toEqual([
      "lock",
      "upload",
      "hook",
      "hook",
      "switch+up",
      "health",
      "hook",
      "prune+unlock",
    ]);
    expect(unfenced(records)).toEqual([]);
    expect(records.filter((r) => r.line.includes("'d=$1 t=$2")).every((r) => FENCE.test(r.line))).toBe(true);
    expect(result.hooks?.map((h) => [h.hook, h.status])).toEqual([
      ["post_sync", "succeeded"],
      ["pre_deploy", "succeeded"],
      ["post_deploy", "succeeded"],
    ]);
    expect(readlinkSync(paths.current)).toBe(`releases/${commit}`);
    writeFileSync(config, before);
    git("add", "-A");
    git("commit", "-qm", "no hooks");
  });
});
