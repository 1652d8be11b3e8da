// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the compose files under test use Compose's ${VAR} syntax.
/**
 * Host paths stay inside the repository, on real git repositories: symlinks among a stack's
 * inputs and bind mounts written with variables from the stack's own .env.
 */
import { afterEach, describe, expect, it } from "vitest";
import { formatProblem, type Problem } from "../../src/config/problems.ts";
import { buildSnapshot, deriveSnapshot, ParseCache, type Snapshot } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import type { HostRef } from "../../src/plan/plan.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

/** The snapshot's own problems and every stack's (a stack's problems are its own since broken stacks). */
const allProblems = (snap: Snapshot) => [
  ...snap.problems,
  ...[...snap.stacks.values()].flatMap((st) => st.problems),
];

const CONFIG = "stacks:\n  - name: a\n    hosts: [h1, h2]\n";
const repos: TestRepo[] = [];
afterEach(() => {
  for (const r of repos.splice(0)) r.remove();
});

function repo(files: Record<string, string>): TestRepo {
  const t = new TestRepo();
  repos.push(t);
  t.write({ ".github/stackpilot.yml": CONFIG, ...files });
  return t;
}

async function head(t: TestRepo, cache = new ParseCache()) {
  const git = new GitRepo(t.dir);
  const commit = t.head();
  return buildSnapshot(git, commit, await git.lsTree(commit), cache);
}

/** The snapshot of the commit `change` makes, derived from the current one's, and built from scratch. */
async function deriveNext(t: TestRepo, change: () => void) {
  const git = new GitRepo(t.dir);
  const cache = new ParseCache();
  const before = await head(t, cache);
  change();
  const after = t.head();
  const changes = await git.diff(before.commit, after);
  const derived = await deriveSnapshot(git, before, after, changes, true, cache);
  return { derived, built: await head(t) };
}

const compose = (...volumes: string[]) =>
  `services:\n  web:\n    image: nginx\n    volumes:\n${volumes.map((v) => `      - ${v}\n`).join("")}`;
const errorsOf = (problems: Problem[]) => problems.filter((p) => p.severity === "error");

describe("symlinks among a stack's inputs", () => {
  it("refuses a bind-mounted symlink to / at the volume's line", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("./root:/host") });
    t.symlink("/", "stacks/a/root").commit();
    const snap = await head(t);
    expect(errorsOf(allProblems(snap)).map(formatProblem)).toEqual([
      "stacks/a/compose.yaml:5:9: error: bind mount of service web: stacks/a/root is a symlink to / (outside the repository)",
    ]);
  });

  it("refuses an env_file that is a symlink to /etc/shadow, and one reached through a symlinked directory", async () => {
    const t = repo({
      "stacks/a/compose.yaml": "services:\n  web:\n    image: nginx\n    env_file: [app.env, conf/db.env]\n",
    });
    t.symlink("/etc/shadow", "stacks/a/app.env").symlink("../../../../etc", "stacks/a/conf").commit();
    const messages = errorsOf(allProblems(await head(t))).map((p) => p.message);
    expect(messages).toEqual([
      "env_file of service web: stacks/a/app.env is a symlink to /etc/shadow (outside the repository)",
      "env_file of service web: stacks/a/conf is a symlink to ../../../../etc (outside the repository)",
    ]);
  });

  it("refuses a symlink leaving the repository that is an input only by being in the stack directory, at its own path", async () => {
    const t = repo({ "stacks/a/compose.yaml": "services:\n  web:\n    image: nginx\n" });
    t.symlink("../../../home", "stacks/a/notes").commit();
    expect(errorsOf(allProblems(await head(t))).map(formatProblem)).toEqual([
      "stacks/a/notes:1:1: error: stacks/a/notes is a symlink to ../../../home (outside the repository); it is an input of stack a",
    ]);
  });

  it("refuses a link leaving the repository deep inside a directory a link points at, and a cycle", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("./data:/data"), "shared/ok.txt": "ok\n" });
    t.symlink("../../shared", "stacks/a/data").symlink("/etc", "shared/inner").commit();
    expect(errorsOf(allProblems(await head(t))).map((p) => p.message)).toEqual([
      "bind mount of service web: shared/inner is a symlink to /etc (outside the repository)",
    ]);
    const c = repo({ "stacks/a/compose.yaml": compose("./loop:/data") });
    c.symlink("other", "stacks/a/loop").symlink("loop", "stacks/a/other").commit();
    expect(errorsOf(allProblems(await head(c)))[0]?.message).toMatch(/cycle of symlinks/);
  });

  it("makes what an inside link points at an input, so a change there redeploys the stack", async () => {
    const t = repo({
      "stacks/a/compose.yaml": compose("./data/app.conf:/etc/app.conf"),
      "shared/app.conf": "v1\n",
      "shared/other.conf": "x\n",
    });
    t.symlink("../../shared", "stacks/a/data").commit();
    const snap = await head(t);
    expect(allProblems(snap)).toEqual([]);
    const inputs = snap.stacks.get("a")?.inputs;
    expect([...(inputs?.files.keys() ?? [])].sort()).toEqual([
      "shared/app.conf",
      "shared/other.conf",
      "stacks/a/.env",
      "stacks/a/compose.yaml",
      "stacks/a/data",
    ]);
    expect(inputs?.links).toEqual(new Map([["stacks/a/data", "shared"]]));

    t.write({ "shared/app.conf": "v2\n" }).commit();
    const { plan } = await planRange(new GitRepo(t.dir), { base: "HEAD~1", head: "HEAD" });
    const a = plan.stacks.find((s) => s.name === "a");
    expect(a?.contentChanged).toBe(true);
    expect(a?.reasons).toEqual(["shared/app.conf modified (what the symlink stacks/a/data points at)"]);
  });

  it("sees a new file in a linked directory when the snapshot is derived from the previous commit's", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("./data:/data"), "shared/one": "1\n" });
    t.symlink("../../shared", "stacks/a/data").commit();
    const { derived, built } = await deriveNext(t, () => t.write({ "shared/two": "2\n" }).commit());
    expect(derived.stacks.get("a")?.fingerprint).toBe(built.stacks.get("a")?.fingerprint);
    expect(derived.stacks.get("a")?.inputs.files.has("shared/two")).toBe(true);
  });

  it("follows a path whose parent becomes a symlink in a later commit", async () => {
    const t = repo({
      "stacks/a/compose.yaml": compose("../../vendor/cfg/app.conf:/app.conf"),
      "lib/cfg/app.conf": "x\n",
    });
    t.commit();
    const { derived, built } = await deriveNext(t, () => t.symlink("lib", "vendor").commit());
    expect(derived.stacks.get("a")?.fingerprint).toBe(built.stacks.get("a")?.fingerprint);
    expect(derived.stacks.get("a")?.inputs.files.has("lib/cfg/app.conf")).toBe(true);
    expect(derived.stacks.get("a")?.inputs.files.has("vendor")).toBe(true);
  });

  it("makes the whole repository an input when a link points at its root", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("./all:/src:ro"), "lib/x.txt": "x\n" });
    t.symlink("../..", "stacks/a/all").commit();
    const snap = await head(t);
    expect(allProblems(snap)).toEqual([]);
    expect(snap.stacks.get("a")?.inputs.links).toEqual(new Map([["stacks/a/all", "."]]));
    expect(snap.stacks.get("a")?.inputs.files.has("lib/x.txt")).toBe(true);
  });

  it("reads an included compose file through its symlink (was: expected a mapping, got a string)", async () => {
    const t = repo({
      "stacks/a/compose.yaml": "include:\n  - db.yaml\nservices:\n  web:\n    image: nginx\n",
      "shared/db.yaml": "services:\n  db:\n    image: postgres\n",
    });
    t.symlink("../../shared/db.yaml", "stacks/a/db.yaml").commit();
    const snap = await head(t);
    expect(allProblems(snap)).toEqual([]);
    const stack = snap.stacks.get("a");
    expect(stack?.compose.services.map((s) => s.name).sort()).toEqual(["db", "web"]);
    expect(stack?.inputs.files.has("shared/db.yaml")).toBe(true);
  });
});

describe("bind mounts interpolated from the stack's own .env", () => {
  const hosts: HostRef[] = [
    { name: "h1", labels: {}, allowedMountRoots: ["/srv/data"] },
    { name: "h2", labels: {}, allowedMountRoots: ["/"] },
  ];

  it("checks ${ROOT}:/host with ROOT=/ in .env against each host's allowed roots", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("${ROOT}:/host"), "stacks/a/.env": "ROOT=/\n" });
    t.commit();
    const snap = await head(t);
    expect(snap.stacks.get("a")?.compose.absoluteMounts).toEqual([
      { file: "stacks/a/compose.yaml", line: 5, col: 9, service: "web", source: "/" },
    ]);
    const { plan } = await planRange(new GitRepo(t.dir), { head: "HEAD", hosts });
    const targets = plan.stacks.find((s) => s.name === "a")?.targets;
    expect(targets?.map((x) => [x.host, x.action])).toEqual([
      ["h1", "skip"],
      ["h2", "deploy"],
    ]);
    expect(targets?.[0]?.reasons).toEqual([
      "not deployed: service web mounts /, outside the allowed mount roots of h1 (/srv/data)",
    ]);
    expect(errorsOf(plan.problems).map(formatProblem)).toEqual([
      'stacks/a/compose.yaml:5:9: error: stack "a" is not deployed to h1: service web mounts /, outside the allowed mount roots of h1 (/srv/data)',
    ]);
  });

  it("refuses on every host a mount whose variable the repository does not define", async () => {
    const t = repo({ "stacks/a/compose.yaml": compose("${NOWHERE}:/host", "${DATA:-./data}:/data") });
    t.commit();
    const { plan } = await planRange(new GitRepo(t.dir), { head: "HEAD", hosts });
    const targets = plan.stacks.find((s) => s.name === "a")?.targets;
    expect(targets?.map((x) => x.action)).toEqual(["skip", "skip"]);
    expect(targets?.[1]?.reasons[0]).toBe(
      "not deployed: service web mounts ${NOWHERE}: ${NOWHERE} cannot be resolved from the repository (the stack's .env or env files), so no host, h2 included, accepts it",
    );
    expect(plan.problems.filter((p) => p.severity === "warning").map((p) => p.message)).toContain(
      '"${NOWHERE}" uses ${NOWHERE}, which the repository does not define (the stack\'s .env or env files); no host accepts this mount',
    );
  });

  it("polices an env_file outside the repository like a bind mount: /etc/shadow and ${X}/app.env are refused where no root admits them", async () => {
    const t = repo({
      "stacks/a/compose.yaml":
        "services:\n  web:\n    image: nginx\n    env_file:\n      - /etc/shadow\n      - ${CONF}/app.env\n      - /srv/data/app.env\n",
    });
    t.commit();
    const { plan } = await planRange(new GitRepo(t.dir), { head: "HEAD", hosts });
    const targets = plan.stacks.find((s) => s.name === "a")?.targets;
    expect(targets?.map((x) => [x.host, x.action])).toEqual([
      ["h1", "skip"],
      ["h2", "skip"],
    ]);
    expect(errorsOf(plan.problems).map(formatProblem)).toEqual([
      'stacks/a/compose.yaml:5:9: error: stack "a" is not deployed to h1: service web reads /etc/shadow as an env_file, outside the allowed mount roots of h1 (/srv/data)',
      'stacks/a/compose.yaml:6:9: error: stack "a" is not deployed to h1: service web reads ${CONF}/app.env as an env_file: ${CONF} cannot be resolved from the repository (the stack\'s .env or env files), so no host, h1 included, accepts it',
      'stacks/a/compose.yaml:6:9: error: stack "a" is not deployed to h2: service web reads ${CONF}/app.env as an env_file: ${CONF} cannot be resolved from the repository (the stack\'s .env or env files), so no host, h2 included, accepts it',
    ]);
  });

  it("uses the stack's env_files (compose --env-file) instead of its .env", async () => {
    const t = repo({
      ".github/stackpilot.yml": `${CONFIG}    env_files: [prod.env]\n`,
      "stacks/a/compose.yaml": compose("${ROOT}/x:/x"),
      "stacks/a/.env": "ROOT=/etc\n",
      "stacks/a/prod.env": "ROOT=/srv/data\n",
    });
    t.commit();
    expect((await head(t)).stacks.get("a")?.compose.absoluteMounts.map((m) => m.source)).toEqual([
      "/srv/data/x",
    ]);
  });

  it("interpolates a repo-relative source from .env into an input", async () => {
    const t = repo({
      "stacks/a/compose.yaml": compose("${CONF}:/conf"),
      "stacks/a/.env": "CONF=../../shared/conf\n",
      "shared/conf/a.ini": "x\n",
    });
    t.commit();
    const stack = (await head(t)).stacks.get("a");
    expect(stack?.compose.absoluteMounts).toEqual([]);
    expect(stack?.inputs.files.has("shared/conf/a.ini")).toBe(true);
  });

  it("re-parses an unchanged compose file when only its .env changed (the parse cache is keyed by the variables)", async () => {
    const t = repo({
      "stacks/a/compose.yaml": compose("${ROOT}:/host"),
      "stacks/a/.env": "ROOT=/srv/data\n",
    });
    t.commit();
    const cache = new ParseCache();
    const first = await head(t, cache);
    t.write({ "stacks/a/.env": "ROOT=/\n" }).commit();
    const second = await head(t, cache);
    expect(first.stacks.get("a")?.compose.absoluteMounts[0]?.source).toBe("/srv/data");
    expect(second.stacks.get("a")?.compose.absoluteMounts[0]?.source).toBe("/");
    expect(first.stacks.get("a")?.fingerprint).not.toBe(second.stacks.get("a")?.fingerprint);
  });

  it("interpolates an included project with its own .env under the includer's variables", async () => {
    const t = repo({
      "stacks/a/compose.yaml":
        "include:\n  - ../../shared/inc/compose.yaml\nservices:\n  web:\n    image: nginx\n",
      "stacks/a/.env": "ROOT=/srv/data\n",
      "shared/inc/compose.yaml": compose("${ROOT}/inc:/a", "${OWN}:/b"),
      "shared/inc/.env": "ROOT=/\nOWN=/srv/data/own\n",
    });
    t.commit();
    const mounts = (await head(t)).stacks.get("a")?.compose.absoluteMounts.map((m) => m.source);
    expect(mounts).toEqual(["/srv/data/inc", "/srv/data/own"]);
  });
});
