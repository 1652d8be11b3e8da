import { Octokit } from "@octokit/rest";
import nock from "nock";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createDeployment,
  DeploymentNotCreatedError,
  setDeploymentStatus,
  truncateDescription,
} from "../../src/github/api/deployments.ts";

const API = "https://ghe.example.com/api/v3";
const octokit = () => new Octokit({ auth: "x", baseUrl: API, request: { retries: 0 } });
const SHA = "0123456789abcdef0123456789abcdef01234567";

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});
afterAll(() => nock.enableNetConnect());

describe("createDeployment", () => {
  it("deploys the exact SHA without auto-merge or required contexts, against the configured base URL", async () => {
    nock(API)
      .post("/repos/acme/infra/deployments", {
        ref: SHA,
        task: "deploy",
        auto_merge: false,
        required_contexts: [],
        environment: "production",
        description: "Deploy web to web-1",
        payload: { stacks: ["web"], actor: "alice" },
      })
      .reply(201, { id: 991 });
    const id = await createDeployment(octokit(), {
      owner: "acme",
      repo: "infra",
      sha: SHA,
      environment: "production",
      description: "Deploy web to web-1",
      payload: { stacks: ["web"], actor: "alice" },
    });
    expect(id).toBe(991);
    expect(nock.isDone()).toBe(true);
  });

  it("sends the environment flags and task only when given, with an empty payload by default", async () => {
    nock(API)
      .post("/repos/acme/infra/deployments", {
        ref: SHA,
        task: "deploy:rollback",
        auto_merge: false,
        required_contexts: [],
        environment: "pr-7",
        description: "Preview",
        payload: {},
        transient_environment: true,
        production_environment: false,
      })
      .reply(201, { id: 5 });
    await createDeployment(octokit(), {
      owner: "acme",
      repo: "infra",
      sha: SHA,
      environment: "pr-7",
      description: "Preview",
      task: "deploy:rollback",
      transient: true,
      production: false,
    });
    expect(nock.isDone()).toBe(true);
  });

  it("throws when GitHub answers 202 without creating a deployment", async () => {
    nock(API).post("/repos/acme/infra/deployments").reply(202, { message: "Auto-merged main into topic" });
    const p = createDeployment(octokit(), {
      owner: "acme",
      repo: "infra",
      sha: SHA,
      environment: "e",
      description: "d",
    });
    await expect(p).rejects.toBeInstanceOf(DeploymentNotCreatedError);
    await expect(p).rejects.toThrow("Auto-merged main into topic");
  });
});

describe("setDeploymentStatus", () => {
  it("posts the state with log and environment URLs", async () => {
    nock(API)
      .post("/repos/acme/infra/deployments/991/statuses", {
        state: "success",
        description: "Deployed web to web-1",
        log_url: "https://ghe.example.com/acme/infra/runs/1",
        environment_url: "https://app.example.com",
      })
      .reply(201, { id: 3 });
    const id = await setDeploymentStatus(octokit(), {
      owner: "acme",
      repo: "infra",
      deployment_id: 991,
      state: "success",
      description: "Deployed web to web-1",
      logUrl: "https://ghe.example.com/acme/infra/runs/1",
      environmentUrl: "https://app.example.com",
    });
    expect(id).toBe(3);
    expect(nock.isDone()).toBe(true);
  });

  it("truncates a long description to 140 characters and omits absent URLs", async () => {
    const long = `compose up failed:\n${"x".repeat(300)}`;
    nock(API)
      .post("/repos/acme/infra/deployments/7/statuses", {
        state: "failure",
        description: `compose up failed: ${"x".repeat(120)}…`,
      })
      .reply(201, { id: 4 });
    await setDeploymentStatus(octokit(), {
      owner: "acme",
      repo: "infra",
      deployment_id: 7,
      state: "failure",
      description: long,
    });
    expect(nock.isDone()).toBe(true);
  });

  it("sends every state GitHub accepts, and auto_inactive when set", async () => {
    for (const state of ["queued", "in_progress", "error", "inactive"] as const) {
      nock(API)
        .post("/repos/acme/infra/deployments/1/statuses", { state, description: state })
        .reply(201, { id: 1 });
      await setDeploymentStatus(octokit(), {
        owner: "acme",
        repo: "infra",
        deployment_id: 1,
        state,
        description: state,
      });
    }
    nock(API)
      .post("/repos/acme/infra/deployments/1/statuses", {
        state: "success",
        description: "ok",
        auto_inactive: false,
      })
      .reply(201, { id: 2 });
    await setDeploymentStatus(octokit(), {
      owner: "acme",
      repo: "infra",
      deployment_id: 1,
      state: "success",
      description: "ok",
      autoInactive: false,
    });
    expect(nock.isDone()).toBe(true);
  });
});

describe("truncateDescription", () => {
  it("keeps short text and never splits a surrogate pair", () => {
    expect(truncateDescription("  two\nlines ")).toBe("two lines");
    const out = truncateDescription(`${"a".repeat(138)}😀😀`);
    expect(out).toBe(`${"a".repeat(138)}…`);
  });
});
