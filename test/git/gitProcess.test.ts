// The one git process runner, with real git: timeouts that end git's helpers too, bounded output,
// a cleaned environment, and errors in git's own words with secrets taken out.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitProcessError, runGit } from "../../src/git/gitProcess.ts";
import { TestRepo } from "../helpers/gitRepo.ts";
import { isRunning } from "../helpers/processes.ts";

/** One repository for every test: two commits of a.txt, then a 1 MiB big.txt. */
let t: TestRepo;
let first: string;
let second: string;
beforeAll(() => {
  t = new TestRepo();
  first = t.write({ "a.txt": "a\n" }).commit();
  second = t.write({ "a.txt": "b\n" }).commit();
  t.write({ "big.txt": "x".repeat(1024 * 1024) }).commit();
});
afterAll(() => t.remove());

async function waitUntil(probe: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe("runGit", () => {
  it("kills git and the processes it started once the timeout passes", async () => {
    const pidFile = join(t.dir, "helper.pid");
    // A git alias runs through a shell, like git-remote-https under a fetch: a grandchild of ours.
    const hang = `!sleep 60 & echo $! > ${pidFile}; wait`;
    const started = Date.now();
    const err = await runGit(["hang"], { cwd: t.dir, config: [["alias.hang", hang]], timeoutMs: 500 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GitProcessError);
    expect(err).toMatchObject({ reason: "timeout", command: "git hang", timeoutMs: 500 });
    expect((err as Error).message).toBe("git hang timed out after 500 ms and was killed");
    expect(Date.now() - started).toBeLessThan(5_000);
    const helper = Number(readFileSync(pidFile, "utf8"));
    expect(await waitUntil(() => !isRunning(helper), 2_000)).toBe(true);
  });

  it("stops git once its output passes maxOutputBytes", async () => {
    const err = await runGit(["cat-file", "-p", "HEAD:big.txt"], { cwd: t.dir, maxOutputBytes: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ reason: "too-big" });
    expect((err as Error).message).toBe("git cat-file printed more than 1000 bytes and was stopped");
    const whole = await runGit(["cat-file", "-p", "HEAD:big.txt"], { cwd: t.dir });
    expect(whole.stdout.length).toBe(1024 * 1024);
  });

  it("feeds stdin and treats the exit codes the caller names as answers", async () => {
    const out = await runGit(["cat-file", "--batch-check"], { cwd: t.dir, input: `${first}\nnope\n` });
    expect(out.stdout.toString()).toMatch(new RegExp(`^${first} commit \\d+\nnope missing\n$`));
    const no = await runGit(["merge-base", "--is-ancestor", second, first], { cwd: t.dir, okCodes: [0, 1] });
    expect(no.code).toBe(1);
    await expect(
      runGit(["merge-base", "--is-ancestor", second, first], { cwd: t.dir }),
    ).rejects.toMatchObject({
      reason: "exit",
      code: 1,
    });
  });

  it("fails with git's own words, secrets taken out", async () => {
    const secret = "ghs_SecretTokenThatMustNotShow0123";
    const err = (await runGit(["log", `${secret}-x`], { cwd: t.dir, secrets: [secret] }).catch(
      (e: unknown) => e,
    )) as GitProcessError;
    expect(err.reason).toBe("exit");
    expect(err.code).toBe(128);
    expect(err.message).toMatch(
      /^git log failed \(exit 128\): fatal: ambiguous argument '\*\*\*-x': unknown revision/,
    );
    for (const text of [err.message, err.stderr, String(err.stack)]) expect(text).not.toContain(secret);
  });

  it("says so when git cannot be started", async () => {
    const err = await runGit(["status"], { bin: "/nonexistent/git" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: "spawn" });
    expect((err as Error).message).toMatch(
      /^git status could not be started: spawn \/nonexistent\/git ENOENT/,
    );
  });

  it("runs git in a cleaned environment: no inherited GIT_DIR or traces, no prompts, no credential helper", async () => {
    const env = {
      ...process.env,
      GIT_DIR: "/nonexistent",
      GIT_TRACE: "1",
      GIT_CURL_VERBOSE: "1",
      GIT_ASKPASS: "/bin/echo",
    };
    const gitDir = await runGit(["rev-parse", "--git-dir"], { cwd: t.dir, env });
    expect(gitDir.stdout.toString()).toBe(".git\n");
    // What git's own children (remote helpers) see, through an alias.
    const seen = (
      await runGit(["env"], { cwd: t.dir, env, config: [["alias.env", "!env"]] })
    ).stdout.toString();
    const vars = Object.fromEntries(
      seen.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(vars).toMatchObject({ GIT_TERMINAL_PROMPT: "0", GCM_INTERACTIVE: "never" });
    for (const name of ["GIT_TRACE", "GIT_CURL_VERBOSE", "GIT_ASKPASS"]) expect(vars[name]).toBeUndefined();
    const helper = await runGit(["config", "--get", "credential.helper"], { cwd: t.dir, env });
    expect(helper.stdout.toString()).toBe("\n");
  });
});
