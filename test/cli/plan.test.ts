import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as run } from "../helpers/cli.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

describe("stackpilot plan", () => {
  let dir: string;
  let repo: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sp-cli-"));
    repo = join(dir, "repo");
    execFileSync("sh", ["fixtures/build-monorepo.sh", repo]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints one JSON object with a stacks array", async () => {
    const { code, out } = await run("plan", "--repo", repo, "--json");
    expect(code).toBe(0);
    const plan = JSON.parse(out);
    expect(plan.stacks.map((s: { name: string }) => s.name)).toEqual([
      "adguardhome",
      "authelia",
      "logging",
      "monitoring",
      "webapp",
      "whoami",
    ]);
    for (const s of plan.stacks) {
      expect(s).toEqual(
        expect.objectContaining({
          name: expect.any(String),
          path: expect.any(String),
          changed: expect.any(Boolean),
          reasons: expect.any(Array),
        }),
      );
    }
    expect(
      plan.stacks.filter((s: { changed: boolean }) => s.changed).map((s: { name: string }) => s.name),
    ).toEqual(["adguardhome", "authelia", "logging", "monitoring"]);
  });

  it("defaults to HEAD~1..HEAD and prints a readable plan", async () => {
    const { code, out } = await run("plan", "--repo", repo, "--hosts", "fixtures/hosts.example.yml");
    expect(code).toBe(0);
    expect(out).toContain("authelia");
    expect(out).toMatch(/deploy +app-1: shared\/common\.env modified \(env_file of service authelia\)/);
    expect(out).toContain("4 of 6 stacks changed");
  });

  it("exits 1 and prints file:line:col on config errors", async () => {
    const bad = join(dir, "bad");
    execFileSync("sh", ["fixtures/build-monorepo.sh", bad]);
    writeFileSync(join(bad, ".github/stackpilot.yml"), "stacks:\n  - name: web\n    prnue: true\n");
    execFileSync("git", ["-C", bad, "commit", "-qam", "typo"]);
    const { code, out } = await run("plan", "--repo", bad);
    expect(code).toBe(1);
    expect(out).toContain(
      '.github/stackpilot.yml:3:5: error: unknown key "prnue"; did you mean "prune"? (at stacks[0].prnue)',
    );
  });

  it("exits 1 with positions on an invalid hosts file", async () => {
    const hosts = join(dir, "hosts.yml");
    writeFileSync(hosts, "hosts:\n  - name: h1\n    adress: x\n");
    const { code, err } = await run("plan", "--repo", repo, "--hosts", hosts);
    expect(code).toBe(1);
    expect(err).toContain(`${hosts}:3:5: error: unknown key "adress"; did you mean "address"?`);
  });

  it("exits 2 on usage errors and unknown revisions", async () => {
    expect((await run("plan", "--bogus")).code).toBe(2);
    expect((await run("plan", "--repo", repo, "--head", "no-such-ref")).code).toBe(2);
    expect((await run("nonsense")).code).toBe(2);
  });

  it("has --help on every command", async () => {
    const { code, out } = await run("plan", "--help");
    expect(code).toBe(0);
    expect(out).toContain("Usage: stackpilot plan");
    expect((await run("--help")).out).toContain("Commands:");
  });
});

describe("stackpilot plan with a broken stack", () => {
  const repos: TestRepo[] = [];
  afterAll(() => {
    for (const r of repos) r.remove();
  });
  const setup = () => {
    const t = new TestRepo();
    repos.push(t);
    t.write({
      ".github/stackpilot.yml": "defaults:\n  hosts: [h1]\n",
      "stacks/a/compose.yaml": "services:\n  a:\n    image: nginx:1\n",
      "stacks/transfer.sh/compose.yaml": "services:\n  t:\n    image: transfer:1\n",
    });
    t.commit("init");
    return t;
  };

  it("exits 1 when the range changes a broken stack, and still plans the others", async () => {
    const t = setup();
    t.write({
      "stacks/a/compose.yaml": "services:\n  a:\n    image: nginx:1\n    image: nginx:2\n",
      "stacks/transfer.sh/compose.yaml": "services:\n  t:\n    image: transfer:2\n",
    }).commit();
    const { code, out } = await run("plan", "--repo", t.dir);
    expect(code).toBe(1);
    expect(out).toMatch(/^a +stacks\/a {2}BROKEN: not deployed$/m);
    expect(out).toMatch(/skip +h1: broken: stacks\/a\/compose\.yaml:4:5 /);
    expect(out).toMatch(/deploy +h1: stacks\/transfer\.sh\/compose\.yaml modified/);
    expect(out).toMatch(/stacks\/a\/compose\.yaml:4:5: error: .* \(stack "a" is broken: not deployed\)/);
  });

  it("exits 0 when the broken stack is untouched by the range, warning that it is not deployed", async () => {
    const t = setup();
    t.write({
      "stacks/a/compose.yaml": "include: [gone.yaml]\nservices:\n  a:\n    image: nginx:1\n",
    }).commit();
    t.write({ "stacks/transfer.sh/compose.yaml": "services:\n  t:\n    image: transfer:2\n" }).commit();
    const { code, out } = await run("plan", "--repo", t.dir, "--json");
    expect(code).toBe(0);
    const plan = JSON.parse(out);
    expect(plan).toMatchObject({ ok: true, deployable: true, summary: { broken: 1, deploy: 1 } });
    expect(plan.problems).toEqual([
      expect.objectContaining({
        file: "stacks/a/compose.yaml",
        line: 1,
        severity: "warning",
        message:
          'included compose file stacks/a/gone.yaml not found (stack "a" is broken and not deployed; unchanged in this range)',
      }),
    ]);
  });
});
