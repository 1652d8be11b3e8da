// Crash recovery: a rollout and its deployment left running by a process that died are found,
// recorded as interrupted, and shown as ended on GitHub, once; on both state backends.
import { randomUUID } from "node:crypto";
import nock from "nock";
import { ProbotOctokit } from "probot";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Octokit } from "../../src/github/jobs/jobContext.ts";
import { INTERRUPTED_ROLLOUT, type RecoveryDeps, recoverOnce } from "../../src/github/jobs/recovery.ts";
import { deployLockKey, INTERRUPTED_ERROR } from "../../src/state/deployments.ts";
import { rolloutLockKey } from "../../src/state/rollouts.ts";
import type { Store } from "../../src/state/store.ts";
import { recordedApi } from "../helpers/recordedApi.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const API = "https://api.github.com";
const backends = useStateBackends();
const { requests, api, sent } = recordedApi(API);

const octokit = new (ProbotOctokit.defaults({ retry: { enabled: false }, throttle: { enabled: false } }))({
  auth: "ghs_test",
}) as unknown as Octokit;

beforeEach(() => {
  nock.disableNetConnect();
  requests.length = 0;
});
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

describe.each(backends)("recovery on $name", (backend) => {
  let store: Store;
  let deps: RecoveryDeps;
  const logged: string[] = [];
  beforeAll(async () => {
    store = await backend.sharedStore();
    deps = {
      store,
      octokitFor: async () => octokit,
      log: { info: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) },
      holder: "replica-2",
    };
  });

  /** What a process that died mid-rollout leaves: a running rollout and deployments, no locks held. */
  async function deadRollout(repo: string) {
    const id = await store.createRollout({
      repo,
      installationId: 42,
      environment: "production",
      commit: "c".repeat(40),
      trigger: "merge",
      actor: "octocat",
    });
    await store.setRolloutGithub(id, { githubDeploymentId: 7, checkRunId: 9 });
    const target = {
      repo,
      commit: "c".repeat(40),
      fingerprint: "f",
      actor: "octocat",
      trigger: "merge" as const,
    };
    const done = await store.createDeployment({ ...target, stack: "web", host: "h1", rolloutId: id });
    await store.startDeployment(done);
    await store.finishDeployment(done, { status: "succeeded" });
    const cut = await store.createDeployment({ ...target, stack: "db", host: "h1", rolloutId: id });
    await store.startDeployment(cut);
    return { id, done, cut };
  }

  it("marks the dead rollout and its running deployment interrupted, and finishes the GitHub Deployment and check run once", async () => {
    const repo = `acme/${randomUUID()}`;
    const { id, cut } = await deadRollout(repo);
    api()
      .post(`/repos/${repo}/deployments/7/statuses`)
      .reply(201, { id: 1 })
      .patch(`/repos/${repo}/check-runs/9`)
      .reply(200, { id: 9 });

    const round = await recoverOnce(deps);
    expect(round?.deployments.map((d) => d.id)).toContain(cut);
    expect(round?.reported.map((r) => r.id)).toContain(id);
    expect(await store.getDeployment(cut)).toMatchObject({ status: "interrupted", error: INTERRUPTED_ERROR });
    expect(await store.getRollout(id)).toMatchObject({
      status: "interrupted",
      error: INTERRUPTED_ROLLOUT,
      reported: true,
    });
    expect(sent("POST", `/repos/${repo}/deployments/7/statuses`)).toEqual([
      expect.objectContaining({ state: "error", description: expect.stringContaining("interrupted") }),
    ]);
    const [check] = sent("PATCH", `/repos/${repo}/check-runs/9`);
    expect(check).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(JSON.stringify(check)).toContain("| `web` | `h1` |");
    expect(JSON.stringify(check)).toContain(INTERRUPTED_ERROR);

    // The next round has nothing left to do: no request to GitHub.
    requests.length = 0;
    const next = await recoverOnce(deps);
    expect(next?.reported.map((r) => r.id)).not.toContain(id);
    expect(requests).toEqual([]);
  });

  it("leaves alone a rollout and deployment whose process is alive (leases held)", async () => {
    const repo = `acme/${randomUUID()}`;
    const { id, cut } = await deadRollout(repo);
    await store.acquireLock(rolloutLockKey(id), "replica-1", 60_000);
    await store.acquireLock(deployLockKey({ repo, stack: "db", host: "h1" }), "replica-1", 60_000);
    const round = await recoverOnce(deps);
    expect(round?.deployments.map((d) => d.id)).not.toContain(cut);
    expect((await store.getRollout(id))?.status).toBe("running");
    expect((await store.getDeployment(cut))?.status).toBe("running");
    expect(requests).toEqual([]);
  });

  it("GitHub down: the rollout stays unreported and is shown at a later round", async () => {
    const repo = `acme/${randomUUID()}`;
    const { id } = await deadRollout(repo);
    api().post(`/repos/${repo}/deployments/7/statuses`).reply(502, { message: "Bad Gateway" });
    const first = await recoverOnce(deps);
    expect(first?.reported.map((r) => r.id)).not.toContain(id);
    expect(await store.getRollout(id)).toMatchObject({ status: "interrupted", reported: false });

    api()
      .post(`/repos/${repo}/deployments/7/statuses`)
      .reply(201, { id: 1 })
      .patch(`/repos/${repo}/check-runs/9`)
      .reply(200, { id: 9 });
    const later = await recoverOnce(deps);
    expect(later?.reported.map((r) => r.id)).toContain(id);
    expect((await store.getRollout(id))?.reported).toBe(true);
  });

  it("one round at a time across replicas: a round while another holds the round's lock does nothing", async () => {
    expect(await store.acquireLock("recovery", "replica-1", 60_000)).toBe(true);
    try {
      expect(await recoverOnce(deps)).toBeUndefined();
    } finally {
      await store.releaseLock("recovery", "replica-1");
    }
  });
});
