/**
 * `stackpilot deploy` with a broken stack: the others deploy, the broken one is named with its
 * error, and the exit status says not everything asked for was deployed. Dry runs: nothing here
 * reaches a host (the e2e tests deploy for real).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as run } from "../helpers/cli.ts";
import { TestRepo } from "../helpers/gitRepo.ts";

describe("stackpilot deploy with a broken stack", () => {
  let dir: string;
  let hosts: string;
  let t: TestRepo;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "sp-cli-deploy-"));
    hosts = join(dir, "hosts.yml");
    // Documentation addresses (RFC 5737): a dry run connects to nothing.
    writeFileSync(hosts, "hosts:\n  - name: h1\n    address: 192.0.2.11\n    trust_on_first_use: true\n");
    t = new TestRepo();
    t.write({
      ".github/stackpilot.yml": "defaults:\n  hosts: [h1]\n",
      "stacks/a/compose.yaml": "services:\n  a:\n    image: nginx:1\n    env_file: missing.env\n",
      "stacks/b/compose.yaml": "services:\n  b:\n    image: redis:7\n",
    });
    t.commit("init");
  });
  afterAll(() => {
    t.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const deploy = (...extra: string[]) =>
    run("deploy", "--repo", t.dir, "--hosts", hosts, "--data", join(dir, "data"), "--dry-run", ...extra);

  it("plans the other stacks, names the broken one with its error, and exits 1", async () => {
    const { code, out, err } = await deploy();
    expect(code).toBe(1);
    expect(out).toMatch(/deploy +h1: never deployed to h1/);
    expect(out).toMatch(/^a +stacks\/a {2}BROKEN: not deployed$/m);
    expect(err).toContain(
      'not deployed: stack "a" is broken: stacks/a/compose.yaml:4:15 env_file stacks/a/missing.env not found',
    );
  }, 120_000);

  it("exits 0 when only stacks that are not broken were asked for", async () => {
    const { code, err } = await deploy("--stack", "b");
    expect(code).toBe(0);
    expect(err).not.toContain("not deployed");
  }, 120_000);
});
