/**
 * `stackpilot plan` loads what planning needs and nothing else: each command's module is imported
 * when that command runs, so a plan never loads SSH, the state store or the job queue (loading
 * them cost a plan 30-45 MB of RSS).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";

const { loaded, probe } = vi.hoisted(() => {
  const loaded = new Set<string>();
  // A module factory that notes the module was imported, then imports it as it is.
  const probe = (name: string) => async (original: () => Promise<unknown>) => {
    loaded.add(name);
    return original();
  };
  return { loaded, probe };
});
vi.mock("../../src/cli/deploy.ts", probe("cli/deploy"));
vi.mock("../../src/cli/rollback.ts", probe("cli/rollback"));
vi.mock("../../src/cli/hosts.ts", probe("cli/hosts"));
vi.mock("../../src/cli/status.ts", probe("cli/status"));
vi.mock("../../src/state/store.ts", probe("state/store"));
vi.mock("../../src/deploy/ssh/pool.ts", probe("deploy/ssh/pool"));
vi.mock("ssh2", probe("ssh2"));
vi.mock("@electric-sql/pglite", probe("pglite"));
vi.mock("pg-boss", probe("pg-boss"));

async function run(...argv: string[]) {
  let out = "";
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (out += t) });
  return { code, out };
}

describe("stackpilot loads commands lazily", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sp-lazy-"));
    execFileSync("sh", ["fixtures/build-monorepo.sh", join(dir, "repo")]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("plans without loading deploy, rollback, hosts, status, SSH, the state store or pg-boss", async () => {
    const { code, out } = await run("plan", "--repo", join(dir, "repo"), "--json");
    expect(code).toBe(0);
    expect(JSON.parse(out).stacks.length).toBeGreaterThan(0);
    expect([...loaded]).toEqual([]);
  });

  it("loads the state file reader for --state, and plans against the deployed fingerprints", async () => {
    const repo = join(dir, "repo");
    const first = JSON.parse((await run("plan", "--repo", repo, "--json")).out);
    const web = first.stacks.find(
      (s: { changed: boolean; fingerprint?: string }) => s.changed && s.fingerprint,
    );
    const state = join(dir, "state.json");
    const deployed = web.targets.map((t: { host: string }) => ({
      stack: web.name,
      host: t.host,
      fingerprint: web.fingerprint,
      commit: first.head,
    }));
    writeFileSync(state, JSON.stringify({ deployed }));
    const { code, out } = await run("plan", "--repo", repo, "--state", state, "--json");
    expect(code).toBe(0);
    const again = JSON.parse(out).stacks.find((s: { name: string }) => s.name === web.name);
    expect(again.targets.every((t: { action: string }) => t.action === "skip")).toBe(true);
    expect((await run("plan", "--repo", repo, "--state", join(dir, "missing.json"))).code).toBe(1);
    expect([...loaded]).toEqual([]);
  });

  it("loads a command's modules when that command runs", async () => {
    expect((await run("deploy", "--help")).out).toContain("Usage: stackpilot deploy");
    expect(loaded).toContain("cli/deploy");
    expect(loaded).toContain("deploy/ssh/pool");
    expect(loaded).not.toContain("cli/rollback");
  });
});
