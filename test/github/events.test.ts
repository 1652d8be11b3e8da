import { describe, expect, it } from "vitest";
import { jobFor } from "../../src/github/events.ts";
import { PayloadError } from "../../src/github/payloads.ts";
import { examplePayload, examplePayloads } from "../helpers/webhooks.ts";

const withInstallation = (p: Record<string, unknown>) => ({
  ...p,
  installation: p.installation ?? { id: 1 },
});

describe("webhook events -> jobs", () => {
  it("accepts every real example payload of the events it handles", () => {
    const cases: [string, string | undefined][] = [
      ["pull_request", "opened"],
      ["pull_request", "synchronize"],
      ["pull_request", "reopened"],
      ["push", undefined],
      ["issue_comment", "created"],
      ["check_run", "requested_action"],
      ["check_run", "rerequested"],
    ];
    let seen = 0;
    for (const [event, action] of cases) {
      for (const payload of examplePayloads(event, action)) {
        expect(() => jobFor(action ? `${event}.${action}` : event, withInstallation(payload))).not.toThrow();
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(10);
  });

  it("plans a pull request from its number and head, whatever the event's base says", () => {
    const payload = examplePayload("pull_request", "opened") as {
      pull_request: { head: { sha: string }; number: number };
    };
    const job = jobFor("pull_request.opened", payload);
    expect(job).toMatchObject({
      kind: "plan-pr",
      pr: payload.pull_request.number,
      headSha: payload.pull_request.head.sha,
    });
  });

  it("clones from the payload's own URL, so GitHub Enterprise works", () => {
    const payload = examplePayload("push") as {
      repository: { clone_url: string };
      sender: { login: string };
      ref: string;
      deleted: boolean;
    };
    Object.assign(payload, { ref: "refs/heads/main", deleted: false });
    payload.repository.clone_url = "https://ghe.example.com/acme/infra.git";
    expect(jobFor("push", payload)).toMatchObject({
      kind: "push",
      repo: { cloneUrl: "https://ghe.example.com/acme/infra.git" },
      pusher: payload.sender.login,
    });
  });

  it("ignores tag pushes, deleted branches, and comments on plain issues", () => {
    const tag = examplePayload("push") as Record<string, unknown>;
    tag.ref = "refs/tags/v1";
    expect(jobFor("push", tag)).toBeUndefined();
    const deleted = examplePayload("push") as Record<string, unknown>;
    deleted.deleted = true;
    expect(jobFor("push", deleted)).toBeUndefined();
    const comment = examplePayload("issue_comment", "created") as { issue: Record<string, unknown> };
    delete comment.issue.pull_request;
    expect(jobFor("issue_comment.created", comment)).toBeUndefined();
  });

  it("turns only the Deploy button of its own check runs into a deploy", () => {
    const payload = examplePayload("check_run", "requested_action") as {
      check_run: { name: string; pull_requests: { number: number }[] };
      requested_action: { identifier: string };
    };
    payload.check_run.name = "stackpilot/plan";
    payload.check_run.pull_requests = [{ number: 7 } as never];
    payload.requested_action = { identifier: "deploy" };
    expect(jobFor("check_run.requested_action", payload)).toMatchObject({ kind: "deploy-button", pr: 7 });
    payload.check_run.name = "ci/build";
    expect(jobFor("check_run.requested_action", payload)).toBeUndefined();
  });

  it("rejects a malformed payload naming the wrong keys", () => {
    const payload = examplePayload("push") as Record<string, unknown>;
    payload.after = "not-a-sha; rm -rf /";
    expect(() => jobFor("push", payload)).toThrow(PayloadError);
    expect(() => jobFor("push", payload)).toThrow(/after/);
    expect(() => jobFor("pull_request.opened", { action: "opened" })).toThrow(
      /malformed pull_request.opened payload/,
    );
  });
});
