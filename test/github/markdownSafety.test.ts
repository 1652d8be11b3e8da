// Names and error messages from hosts, repositories and users in what we post to a PR: the
// deploy check run and the Stackpilot comment mention nobody, inject no HTML, keep their tables.
import { describe, expect, it } from "vitest";
import { renderLastRun } from "../../src/github/api/prComment.ts";
import { type DeployResult, deployCheckRun } from "../../src/github/render/checkRun.ts";
import { HOSTILE, inertnessProblems, pingsIn } from "../helpers/githubMarkdown.ts";

const results: DeployResult[] = HOSTILE.map((h) => ({
  stack: h,
  host: h,
  action: "deploy",
  status: "completed",
  conclusion: "failure",
  error: `${h}\n${h}`,
}));

describe("the deploy check run", () => {
  it("keeps hostile stack and host names and errors inert in its summary and details", () => {
    const { output } = deployCheckRun(HOSTILE.join(" "), results, { headSha: "a".repeat(40) }).params;
    expect(inertnessProblems(output.summary)).toEqual([]);
    expect(inertnessProblems(output.text ?? "")).toEqual([]);
    expect(output.text).toContain("@someone please look");
  });
});

describe("the PR comment's last-deploy section", () => {
  it("keeps hostile names, errors, environments and refusals inert; mentions only the actor", () => {
    const deploy = renderLastRun(
      {
        kind: "deploy",
        sha: "b".repeat(40),
        actor: "octocat",
        at: new Date(0),
        environments: [
          { name: HOSTILE.join(" "), results },
          { name: "@someone", refused: HOSTILE.join("\n") },
        ],
      },
      20_000,
    );
    expect(inertnessProblems(deploy, ["@octocat"])).toEqual([]);
    expect(pingsIn(deploy)).toEqual(["@octocat"]);
    const rollback = renderLastRun(
      {
        kind: "rollback",
        stack: HOSTILE[0] as string,
        actor: "x @someone",
        at: new Date(0),
        hosts: HOSTILE.map((h) => ({ host: h, error: h })),
      },
      20_000,
    );
    expect(inertnessProblems(rollback)).toEqual([]);
  });
});
