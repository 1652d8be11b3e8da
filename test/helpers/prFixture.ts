/** The fixture monorepo (fixtures/build-monorepo.sh) set up as a pull request. */
import { execFileSync } from "node:child_process";

const IDENTITY = {
  GIT_AUTHOR_NAME: "T",
  GIT_AUTHOR_EMAIL: "t@example.invalid",
  GIT_COMMITTER_NAME: "T",
  GIT_COMMITTER_EMAIL: "t@example.invalid",
};

/**
 * Builds the fixture in `dir` with branch `feature` at its last commit and `main` one commit
 * behind; returns git in that checkout, committing as a test identity.
 */
export function pullRequestFixture(dir: string): (...args: string[]) => string {
  execFileSync("sh", ["fixtures/build-monorepo.sh", dir]);
  const env = { ...process.env, ...IDENTITY };
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, env, encoding: "utf8" }).trim();
  git("checkout", "-q", "-b", "feature");
  git("branch", "-f", "main", "HEAD~1");
  return git;
}
