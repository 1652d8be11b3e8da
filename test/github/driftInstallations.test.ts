// Which installation the App's drift rounds read a repository with (jobs/drift.ts
// `withInstallations`): a rollout's, else, for a repository only the CLI deployed into the App's
// database, the one GitHub names; "not installed" is believed for a while, other failures are not.
import { describe, expect, it } from "vitest";
import { RepositoryNotInstalled } from "../../src/github/api/repositoryDirectory.ts";
import { withInstallations } from "../../src/github/jobs/drift.ts";
import type { RunRepoRef } from "../../src/state/procedureRuns.ts";

function directory(answers: Record<string, number | Error>) {
  const asked: string[] = [];
  return {
    asked,
    async resolve(fullName: string): Promise<RunRepoRef> {
      asked.push(fullName);
      const a = answers[fullName];
      if (a === undefined || a instanceof Error) throw a ?? new Error(`unexpected ${fullName}`);
      const [owner, name] = fullName.split("/") as [string, string];
      return { installationId: a, owner, name, fullName, cloneUrl: "", defaultBranch: "main" };
    },
  };
}

const logs: string[] = [];
const log = {
  info: (m: string) => void logs.push(`info ${m}`),
  warn: (m: string) => void logs.push(`warn ${m}`),
  error: (m: string) => void logs.push(`error ${m}`),
};

describe("the drift rounds' installations", () => {
  it("takes a rollout's installation without asking, and asks GitHub for a repository the CLI deployed", async () => {
    const repositories = directory({ "acme/cli": 7 });
    const rows = [
      { repo: "acme/app", installationId: 3 },
      { repo: "acme/cli", installationId: null },
      { repo: "/srv/checkouts/infra", installationId: null },
    ];
    expect(await withInstallations(rows, { repositories, log }, new Map(), 60_000)).toEqual([
      { repo: "acme/app", installationId: 3 },
      { repo: "acme/cli", installationId: 7 },
    ]);
    // A repository known by its path has no name to ask GitHub about.
    expect(repositories.asked).toEqual(["acme/cli"]);
  });

  it("believes 'not installed' for the ttl, and asks again after it; another failure is asked again next round", async () => {
    const repositories = directory({
      "acme/nope": new RepositoryNotInstalled("the App is not installed on acme/nope"),
      "acme/flaky": new Error("502"),
    });
    const notInstalled = new Map<string, number>();
    const rows = [
      { repo: "acme/nope", installationId: null },
      { repo: "acme/flaky", installationId: null },
    ];
    const deps = { repositories, log };
    logs.length = 0;
    expect(await withInstallations(rows, deps, notInstalled, 60_000, 1_000)).toEqual([]);
    expect(logs).toEqual([
      "info drift: acme/nope has records but the App is not installed there: not checked",
      "warn drift: the installation of acme/flaky cannot be read now, not checked this round: 502",
    ]);
    await withInstallations(rows, deps, notInstalled, 60_000, 30_000);
    expect(repositories.asked).toEqual(["acme/nope", "acme/flaky", "acme/flaky"]);
    await withInstallations(rows, deps, notInstalled, 60_000, 61_001);
    expect(repositories.asked.filter((r) => r === "acme/nope")).toHaveLength(2);
  });

  it("skips such repositories where the App has no way to ask (no directory)", async () => {
    expect(
      await withInstallations([{ repo: "acme/cli", installationId: null }], { log }, new Map(), 1),
    ).toEqual([]);
  });
});
