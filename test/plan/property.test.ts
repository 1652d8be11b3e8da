/**
 * Property: over random commit histories, the stacks chosen by mapping changed paths to stack
 * inputs are exactly the stacks whose fingerprint differs between the two commits.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { buildSnapshot, ParseCache } from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

const COMPOSE_VARIANTS = [
  "services:\n  a:\n    image: x\n    env_file: ../../shared/one.env\n",
  "services:\n  a:\n    image: x\n    env_file: [../../shared/two.env]\n    build: ../../apps/x\n",
  "services:\n  a:\n    image: x\n    volumes: ['../../shared/data:/data', './local:/l']\n",
  "include:\n  - ../../shared/base.yaml\nservices:\n  b:\n    image: y\n",
];
const CONFIG_VARIANTS = [
  "stacks:\n  - name: c\n    watch: ['watched/**']\n",
  "stacks:\n  - name: c\n    watch: ['watched/*.txt', 'docs/**']\n",
  "stacks:\n  - name: b\n    project_name: bee\n",
];
const FILES = [
  "stacks/a/compose.yaml",
  "stacks/b/compose.yaml",
  "stacks/c/compose.yaml",
  "stacks/a/extra.conf",
  "stacks/b/local/file.txt",
  "stacks/c/local/x",
  "shared/one.env",
  "shared/two.env",
  "shared/data/d.txt",
  "shared/base.yaml",
  "apps/x/Dockerfile",
  "apps/x/src/main.txt",
  "docs/readme.md",
  "watched/w.txt",
  "watched/deep/w.md",
  "unrelated/file",
  ".github/stackpilot.yml",
];

type Op =
  | { kind: "write"; path: string; variant: number }
  | { kind: "delete"; path: string }
  | { kind: "chmod"; path: string }
  | { kind: "rename"; from: string; to: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), path: fc.constantFrom(...FILES), variant: fc.nat(5) }),
  fc.record({ kind: fc.constant("delete" as const), path: fc.constantFrom(...FILES) }),
  fc.record({ kind: fc.constant("chmod" as const), path: fc.constantFrom(...FILES) }),
  // Renames never land on a YAML path: a text file renamed to compose.yaml is invalid config,
  // which plans nothing (tested elsewhere).
  fc.record({
    kind: fc.constant("rename" as const),
    from: fc.constantFrom(...FILES),
    to: fc.constantFrom(...FILES.filter((f) => !/\.ya?ml$/.test(f))),
  }),
);

function contentFor(path: string, variant: number): string {
  if (path.endsWith("compose.yaml")) return COMPOSE_VARIANTS[variant % COMPOSE_VARIANTS.length] as string;
  if (path === ".github/stackpilot.yml") return CONFIG_VARIANTS[variant % CONFIG_VARIANTS.length] as string;
  if (path === "shared/base.yaml") return `services:\n  base${variant}:\n    image: z\n`;
  return `${path} version ${variant}\n`;
}

function apply(t: TestRepo, o: Op, exists: Set<string>, executable: Set<string>): void {
  if (o.kind === "write") {
    t.write({ [o.path]: contentFor(o.path, o.variant) });
    exists.add(o.path);
  } else if (o.kind === "delete" && exists.has(o.path)) {
    t.write({ [o.path]: null });
    exists.delete(o.path);
    executable.delete(o.path);
  } else if (o.kind === "chmod" && exists.has(o.path)) {
    const x = executable.has(o.path);
    t.chmod(o.path, x ? 0o644 : 0o755);
    if (x) executable.delete(o.path);
    else executable.add(o.path);
  } else if (o.kind === "rename" && exists.has(o.from) && o.from !== o.to && !exists.has(o.to)) {
    t.rename(o.from, o.to);
    exists.delete(o.from);
    if (executable.delete(o.from)) executable.add(o.to);
    exists.add(o.to);
  }
}

describe("path mapping agrees with fingerprints", () => {
  const repos: TestRepo[] = [];
  afterAll(() => {
    for (const r of repos) r.remove();
  });

  it("chooses exactly the stacks whose fingerprint changed, over random histories", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 2, maxLength: 5 }),
        fc.nat(),
        async (commits, pick) => {
          const t = new TestRepo();
          repos.push(t);
          const exists = new Set<string>();
          const executable = new Set<string>();
          t.write({
            "stacks/a/compose.yaml": COMPOSE_VARIANTS[0] as string,
            "stacks/b/compose.yaml": COMPOSE_VARIANTS[3] as string,
            "stacks/c/compose.yaml": COMPOSE_VARIANTS[2] as string,
            "shared/one.env": "A=1\n",
          });
          for (const p of [
            "stacks/a/compose.yaml",
            "stacks/b/compose.yaml",
            "stacks/c/compose.yaml",
            "shared/one.env",
          ])
            exists.add(p);
          const shas = [t.commit("init")];
          for (const ops of commits) {
            for (const o of ops) apply(t, o, exists, executable);
            shas.push(t.commit());
          }
          const base = shas[pick % (shas.length - 1)] as string;
          const head = shas[shas.length - 1] as string;

          const repo = new GitRepo(t.dir);
          const { plan } = await planRange(repo, { base, head });
          const cache = new ParseCache();
          const [b, h] = await Promise.all([
            buildSnapshot(repo, base, await repo.lsTree(base), cache),
            buildSnapshot(repo, head, await repo.lsTree(head), cache),
          ]);
          const byFingerprint = [...new Set([...b.stacks.keys(), ...h.stacks.keys()])]
            .filter((n) => b.stacks.get(n)?.fingerprint !== h.stacks.get(n)?.fingerprint)
            .sort();
          // Planned (a stack may be broken, e.g. by a deleted env file; it is still mapped).
          expect(plan.deployable).toBe(true);
          const byPaths = plan.stacks.filter((s) => s.contentChanged).map((s) => s.name);
          expect(byPaths).toEqual(byFingerprint);
          t.remove();
        },
      ),
      { numRuns: 40 },
    );
  }, 240_000);
});
