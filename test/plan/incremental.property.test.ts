/**
 * Property: a snapshot derived incrementally from a neighbouring commit's snapshot and the diff
 * equals the snapshot built from scratch, over random histories; and plans made with a warm cache
 * (snapshots reused and derived push after push) equal plans made with a cold cache.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { describeRef, inputReason } from "../../src/detect/inputs.ts";
import { PathIndex } from "../../src/detect/pathIndex.ts";
import {
  buildSnapshot,
  deriveSnapshot,
  ownersOf,
  ParseCache,
  type Snapshot,
} from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const COMPOSE_VARIANTS = [
  "services:\n  a:\n    image: x\n    env_file: ../../shared/one.env\n",
  "services:\n  a:\n    image: x\n    env_file: [../../shared/two.env]\n    build: ../../apps/x\n",
  "services:\n  a:\n    image: x\n    volumes: ['../../shared/data:/data', './local:/l']\n",
  "include:\n  - ../../shared/base.yaml\nservices:\n  b:\n    image: y\n",
  "services:\n  a:\n    extends:\n      file: ../../shared/base.yaml\n      service: base1\n",
  "services:\n  a:\n    image: x\n    volumes: ['../../shared:/s']\n",
  // Interpolated from the stack's .env, and a path through a directory that may become a symlink.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose's ${VAR} syntax.
  "services:\n  a:\n    image: x\n    volumes: ['${DATA:-./data}:/d', './data/sub/f:/f']\n",
];
const CONFIG_VARIANTS = [
  "stacks:\n  - name: c\n    watch: ['watched/**']\n",
  "stacks:\n  - name: c\n    watch: ['watched/*.txt', 'docs/**']\n",
  "stacks:\n  - name: b\n    project_name: bee\n",
  "stacks:\n  - name: e\n    path: other/e\n    watch: ['docs/*.md']\n",
];
const FILES = [
  "stacks/a/compose.yaml",
  "stacks/b/compose.yaml",
  "stacks/c/compose.yaml",
  "stacks/d/compose.yaml",
  "stacks/a/compose.override.yaml",
  "stacks/a/.env",
  "other/e/compose.yaml",
  "stacks/a/extra.conf",
  "stacks/b/local/file.txt",
  "stacks/c/local/x",
  "shared/one.env",
  "shared/two.env",
  "shared/data/d.txt",
  "shared/data",
  "shared/base.yaml",
  "apps/x/Dockerfile",
  "apps/x/src/main.txt",
  "docs/readme.md",
  "docs/more.md",
  "watched/w.txt",
  "watched/deep/w.md",
  "unrelated/file",
  ".github/stackpilot.yml",
];

/**
 * Symlinks (path, target): on bind-mounted, env and context paths and on parents of referenced
 * paths; into the repository, out of it, and in a cycle. The history starts with the first.
 */
const LINKS: [string, string][] = [
  ["stacks/c/local", "../../shared"],
  ["stacks/b/local", "../../shared/data"],
  ["stacks/a/data", "../../shared"],
  ["shared/data", "../apps/x"],
  ["shared/one.env", "two.env"],
  ["apps/x", "../shared/data"],
  ["stacks/a/local", "data"],
  ["stacks/c/local", "/stackpilot-test-nowhere"],
  ["stacks/a/data", "../../../../stackpilot-test-nowhere"],
  ["stacks/a/data", "local"],
];

type Op =
  | { kind: "write"; path: string; variant: number }
  | { kind: "link"; path: string; target: string }
  | { kind: "delete"; path: string }
  | { kind: "chmod"; path: string }
  | { kind: "rename"; from: string; to: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      path: fc.constantFrom(...FILES),
      variant: fc.nat(7),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("delete" as const), path: fc.constantFrom(...FILES) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("chmod" as const), path: fc.constantFrom(...FILES) }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...LINKS).map(([path, target]) => ({ kind: "link" as const, path, target })),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("rename" as const),
      from: fc.constantFrom(...FILES),
      to: fc.constantFrom(...FILES),
    }),
  },
);

function contentFor(path: string, variant: number): string {
  if (/compose(\.override)?\.yaml$/.test(path))
    return COMPOSE_VARIANTS[variant % COMPOSE_VARIANTS.length] as string;
  if (path === ".github/stackpilot.yml") return CONFIG_VARIANTS[variant % CONFIG_VARIANTS.length] as string;
  if (path === "shared/base.yaml") return `services:\n  base${variant % 2}:\n    image: z${variant}\n`;
  // The stack's .env decides where `${DATA:-...}` mounts point.
  if (path === "stacks/a/.env")
    return ["DATA=../../shared/data\n", "DATA=./local\n", "DATA=/srv\n", "X=1\n"][variant % 4] as string;
  return `${path} version ${variant}\n`;
}

/**
 * Applies an op when it leaves a valid tree (no file where a directory is, and the reverse). Files
 * are never written or chmodded through a symlink: some point outside the repository.
 */
function apply(t: TestRepo, o: Op, exists: Set<string>, executable: Set<string>, links: Set<string>): void {
  const clashes = (p: string) =>
    [...exists].some((e) => e !== p && (e.startsWith(`${p}/`) || p.startsWith(`${e}/`)));
  if (o.kind === "link" && !exists.has(o.path) && !clashes(o.path)) {
    t.symlink(o.target, o.path);
    exists.add(o.path);
    links.add(o.path);
  } else if (o.kind === "write" && links.has(o.path)) {
    // not through a link
  } else if (o.kind === "write" && !clashes(o.path)) {
    t.write({ [o.path]: contentFor(o.path, o.variant) });
    exists.add(o.path);
  } else if (o.kind === "delete" && exists.has(o.path)) {
    t.write({ [o.path]: null });
    exists.delete(o.path);
    executable.delete(o.path);
    links.delete(o.path);
  } else if (o.kind === "chmod" && exists.has(o.path) && !links.has(o.path)) {
    const x = executable.has(o.path);
    t.chmod(o.path, x ? 0o644 : 0o755);
    if (x) executable.delete(o.path);
    else executable.add(o.path);
  } else if (
    o.kind === "rename" &&
    exists.has(o.from) &&
    o.from !== o.to &&
    !exists.has(o.to) &&
    !clashes(o.to) &&
    ![...exists].some((e) => e.startsWith(`${o.to}/`) || o.to.startsWith(`${o.from}/`))
  ) {
    t.rename(o.from, o.to);
    exists.delete(o.from);
    if (executable.delete(o.from)) executable.add(o.to);
    if (links.delete(o.from)) links.add(o.to);
    exists.add(o.to);
  }
}

/** Everything a snapshot says, in a comparable form. */
function normal(s: Snapshot) {
  return {
    commit: s.commit,
    config: s.config,
    tree: [...s.tree].sort(([a], [b]) => (a < b ? -1 : 1)),
    problems: s.problems,
    stacks: [...s.stacks].map(([name, x]) => ({
      name,
      def: x.def,
      fingerprint: x.fingerprint,
      files: [...x.inputs.files].sort(([a], [b]) => (a < b ? -1 : 1)),
      via: [...x.inputs.files.keys()].sort().map((p) => [p, inputReason(x.def, x.compose, x.inputs, p)]),
      compose: x.compose,
      problems: x.problems,
    })),
  };
}

/**
 * The owner index and the input reasons, computed on demand, against their definitions: every
 * stack listing a path among its inputs owns it; a path's reason is the first reason that added it.
 */
function expectIndexesExact(s: Snapshot): void {
  const index = new PathIndex(s.tree);
  const owners = new Map<string, string[]>();
  for (const [name, x] of s.stacks) {
    for (const p of x.inputs.files.keys()) owners.set(p, [...(owners.get(p) ?? []), name]);
    const reasons = new Map<string, string>();
    const add = (p: string, why: string) => reasons.has(p) || reasons.set(p, why);
    for (const f of x.def.composeFiles) add(f, "compose file");
    for (const f of x.def.envFiles) add(f, "env file of the stack");
    for (const ref of x.compose.refs) {
      const why = describeRef(ref.kind, ref.service);
      if (index.kind(ref.path) === "dir") for (const p of index.under(ref.path)) add(p, why);
      else add(ref.path, why);
    }
    for (const [link, target] of x.inputs.links) {
      const why = `what the symlink ${link} points at`;
      if (index.kind(target) === "dir") for (const p of index.under(target)) add(p, why);
      else add(target, why);
    }
    for (const pattern of x.def.watch) for (const p of index.glob(pattern)) add(p, `watched (${pattern})`);
    for (const p of x.inputs.files.keys())
      expect([p, inputReason(x.def, x.compose, x.inputs, p)]).toEqual([p, reasons.get(p)]);
    expect(inputReason(x.def, x.compose, x.inputs, "not/an/input")).toBeUndefined();
  }
  const paths = new Set([...owners.keys(), ...s.tree.keys(), "stacks", "stacks/a", "nowhere/x"]);
  for (const p of paths)
    expect([p, [...(ownersOf(s).get(p) ?? [])].sort()]).toEqual([p, (owners.get(p) ?? []).sort()]);
}

const history = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 6 });

function makeHistory(commits: Op[][], repos: TestRepo[]): { t: TestRepo; shas: string[] } {
  const t = new TestRepo();
  repos.push(t);
  const exists = new Set<string>();
  const executable = new Set<string>();
  const links = new Set<string>();
  const initial: Record<string, string> = {
    "stacks/a/compose.yaml": COMPOSE_VARIANTS[0] as string,
    "stacks/b/compose.yaml": COMPOSE_VARIANTS[3] as string,
    "stacks/c/compose.yaml": COMPOSE_VARIANTS[2] as string,
    "shared/one.env": "A=1\n",
    ".github/stackpilot.yml": CONFIG_VARIANTS[0] as string,
  };
  t.write(initial);
  for (const p of Object.keys(initial)) exists.add(p);
  const [link, target] = LINKS[0] as [string, string];
  t.symlink(target, link);
  exists.add(link);
  links.add(link);
  const shas = [t.commit("init")];
  for (const ops of commits) {
    for (const o of ops) apply(t, o, exists, executable, links);
    shas.push(t.commit());
  }
  return { t, shas };
}

describe("incremental snapshots", () => {
  const repos: TestRepo[] = [];
  afterAll(() => {
    for (const r of repos) r.remove();
  });

  it("derives, forward and backward, exactly the snapshot a full build gives", async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.nat(), fc.nat(), async (commits, i, j) => {
        const { t, shas } = makeHistory(commits, repos);
        const from = shas[i % shas.length] as string;
        const to = shas[j % shas.length] as string;
        const repo = new GitRepo(t.dir);
        const full = async (sha: string) =>
          buildSnapshot(repo, sha, await repo.lsTree(sha), new ParseCache());
        const [a, b] = [await full(from), await full(to)];
        expectIndexesExact(a);
        expectIndexesExact(b);
        const changes = await repo.diff(from, to);
        const cache = new ParseCache();
        const forward = await deriveSnapshot(repo, a, to, changes, true, cache);
        expect(normal(forward)).toEqual(normal(b));
        const backward = await deriveSnapshot(repo, b, from, changes, false, cache);
        expect(normal(backward)).toEqual(normal(a));
        expectIndexesExact(forward);
        expectIndexesExact(backward);
        // Chained along the history, as pushes arrive one after another.
        let s = await full(shas[0] as string);
        for (let k = 1; k < shas.length; k++) {
          const sha = shas[k] as string;
          s = await deriveSnapshot(repo, s, sha, await repo.diff(shas[k - 1] as string, sha), true, cache);
          expect(normal(s)).toEqual(normal(await full(sha)));
        }
        t.remove();
      }),
      { numRuns: 40 },
    );
  }, 240_000);

  it("plans the same with a warm cache as with a cold one", async () => {
    await fc.assert(
      fc.asyncProperty(history, fc.nat(), async (commits, pick) => {
        const { t, shas } = makeHistory(commits, repos);
        const repo = new GitRepo(t.dir);
        const warm = new ParseCache(50_000, 2);
        const ranges: [string | undefined, string][] = [[undefined, shas[0] as string]];
        for (let k = 1; k < shas.length; k++) ranges.push([shas[k - 1], shas[k] as string]);
        // A range reaching back, and one planned backward from a cached head.
        ranges.push([shas[pick % shas.length], shas[shas.length - 1] as string]);
        ranges.push([shas[0], shas[(pick + 1) % shas.length] as string]);
        for (const [base, head] of ranges) {
          const opts = base ? { base, head } : { head };
          const hot = await planRange(repo, opts, warm);
          const cold = await planRange(repo, opts, new ParseCache());
          expect(hot.plan).toEqual(cold.plan);
          expect(normal(hot.base)).toEqual(normal(cold.base));
          expect(normal(hot.head)).toEqual(normal(cold.head));
        }
        t.remove();
      }),
      { numRuns: 30 },
    );
  }, 240_000);
});
