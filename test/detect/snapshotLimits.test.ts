/** Files over the size limit are problems at file:1:1 and are never read into memory. */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  buildSnapshot,
  DEFAULT_PARSE_LIMITS,
  deriveSnapshot,
  ParseCache,
} from "../../src/detect/snapshot.ts";
import { GitRepo } from "../../src/git/repo.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { testRepos } from "../helpers/gitRepo.ts";

const newRepo = testRepos();
afterEach(() => {
  vi.restoreAllMocks();
});

const compose = "services:\n  web:\n    image: nginx\n";
/** A valid compose file of about `bytes` bytes: one service with many labels. */
const bigCompose = (bytes: number) =>
  `${compose}    labels:\n${Array.from({ length: Math.ceil(bytes / 20) }, (_, i) => `      l${String(i).padStart(9, "0")}: v\n`).join("")}`;

describe("size limits on parsed files", () => {
  it("refuses an oversize compose file at file:1:1 and plans the other stacks", async () => {
    const t = newRepo();
    const head = t
      .write({
        "stacks/big/compose.yaml": bigCompose(2.6 * 1024 * 1024),
        "stacks/small/compose.yaml": compose,
      })
      .commit();
    const repo = new GitRepo(t.dir);
    const spy = vi.spyOn(repo, "readBlobsWithin");
    const snap = await buildSnapshot(repo, head, await repo.lsTree(head), new ParseCache());
    // The big stack's own problem (a stack's problems are its own); the small stack plans.
    expect(snap.stacks.get("big")?.problems).toEqual([
      {
        file: "stacks/big/compose.yaml",
        line: 1,
        col: 1,
        key: "",
        message: "is 2.6 MB, over the 1 MB limit for files Stackpilot parses",
        severity: "error",
      },
    ]);
    expect(snap.stacks.get("small")?.compose.services.map((s) => s.name)).toEqual(["web"]);
    // The big blob was sized, never read: the reader returned no bytes for it.
    expect(spy).toHaveBeenCalled();
    const results = await Promise.all(spy.mock.results.map((r) => r.value));
    const read = results.flatMap((r) => [...r.blobs.values()]).reduce((n, b) => n + b.length, 0);
    expect(read).toBeLessThan(DEFAULT_PARSE_LIMITS.maxFileBytes);
  });

  it("refuses an oversize config file at file:1:1 and plans nothing from it", async () => {
    const t = newRepo();
    const head = t
      .write({
        ".github/stackpilot.yml": `version: 1\n${"# padding\n".repeat(300)}`,
        "stacks/web/compose.yaml": compose,
      })
      .commit();
    const { plan } = await planRange(new GitRepo(t.dir), { head, limits: { maxFileBytes: 2000 } });
    expect(plan.ok).toBe(false);
    expect(plan.problems).toEqual([
      expect.objectContaining({
        file: ".github/stackpilot.yml",
        line: 1,
        col: 1,
        message: "is 2.9 KB, over the 2 KB limit for files Stackpilot parses",
      }),
    ]);
  });

  it("applies the limit to included files and to snapshots derived from others", async () => {
    const t = newRepo();
    const base = t.write({ "stacks/web/compose.yaml": compose }).commit();
    const head = t
      .write({
        "stacks/web/compose.yaml": `include: [extra.yaml]\n${compose}`,
        "stacks/web/extra.yaml": bigCompose(5000),
      })
      .commit();
    const repo = new GitRepo(t.dir);
    const cache = new ParseCache();
    const limits = { maxFileBytes: 4096 };
    const from = await buildSnapshot(repo, base, await repo.lsTree(base), cache, limits);
    const snap = await deriveSnapshot(repo, from, head, await repo.diff(base, head), true, cache, limits);
    const problems = snap.stacks.get("web")?.problems ?? [];
    expect(problems).toEqual([
      expect.objectContaining({ file: "stacks/web/extra.yaml", line: 1, col: 1, severity: "error" }),
    ]);
    expect(problems[0]?.message).toMatch(/^is 4\.\d KB, over the 4 KB limit/);
  });
});
