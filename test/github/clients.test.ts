/**
 * The I/O modules take a narrow client type; both Octokits the app meets must fit it. This is
 * checked by the type checker (`tsc`), and at run time by the presence of the methods.
 */
import { Octokit } from "@octokit/rest";
import { ProbotOctokit } from "probot";
import { describe, expect, it } from "vitest";
import type { DeploymentsClient } from "../../src/github/api/deployments.ts";
import type { ReactionsClient } from "../../src/github/api/reactions.ts";
import type { CommentsClient } from "../../src/github/api/stickyComment.ts";

type Client = CommentsClient & DeploymentsClient & ReactionsClient;

describe("client types", () => {
  it("accept an @octokit/rest Octokit and a Probot Octokit", () => {
    const rest: Client = new Octokit({ auth: "x" });
    const probot: Client = new ProbotOctokit({ auth: { token: "x" } });
    for (const c of [rest, probot]) {
      expect(typeof c.rest.issues.listComments).toBe("function");
      expect(typeof c.rest.repos.createDeploymentStatus).toBe("function");
      expect(typeof c.rest.reactions.createForIssueComment).toBe("function");
    }
  });
});
