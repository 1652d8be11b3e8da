// The app's Octokit against Probot's own, on GitHub's secondary rate limit and a 5xx.
import nock from "nock";
import { Probot } from "probot";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_RETRY_POLICY, rateLimitHandlers, StackpilotOctokit } from "../../src/github/api/octokit.ts";
import { testAppPrivateKey } from "../helpers/webhooks.ts";

const API = "https://api.github.com";
const CHECK_RUNS = "/repos/acme/infra/check-runs";
const SECONDARY = { message: "You have exceeded a secondary rate limit. Please wait a few minutes." };

beforeEach(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

function token() {
  return nock(API)
    .post("/app/installations/42/access_tokens")
    .reply(201, { token: "ghs_test", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
}

const create = async (probot: Probot) => {
  const octokit = await probot.auth(42);
  return octokit.rest.checks.create({ owner: "acme", repo: "infra", name: "x", head_sha: "a".repeat(40) });
};

describe("the app's Octokit", () => {
  it("Probot's default gives up on a secondary rate limit at once (the job would fail)", async () => {
    token();
    nock(API).post(CHECK_RUNS).reply(403, SECONDARY, { "retry-after": "1" });
    const probot = new Probot({ appId: 1, privateKey: testAppPrivateKey, logLevel: "fatal" });
    await expect(create(probot)).rejects.toMatchObject({ status: 403 });
  });

  it("StackpilotOctokit (what `npm start` gives Probot) waits out a secondary rate limit and retries a 502", async () => {
    token();
    nock(API)
      .post(CHECK_RUNS)
      .reply(403, SECONDARY, { "retry-after": "1" })
      .post(CHECK_RUNS)
      .reply(502, { message: "Bad Gateway" })
      .post(CHECK_RUNS)
      .reply(201, { id: 9 });
    const probot = new Probot({
      appId: 1,
      privateKey: testAppPrivateKey,
      logLevel: "fatal",
      Octokit: StackpilotOctokit,
    });
    const t0 = Date.now();
    expect((await create(probot)).data).toEqual({ id: 9 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000); // retry-after: 1 was honoured
  }, 20_000);
});

describe("rateLimitHandlers", () => {
  const log = { warn: () => {} };
  const req = { method: "PATCH", url: "/repos/{owner}/{repo}/check-runs/{check_run_id}" };
  const { onSecondaryRateLimit, onRateLimit } = rateLimitHandlers(DEFAULT_RETRY_POLICY);

  it("retries a secondary limit 3 times, a primary one twice, and only short waits", () => {
    expect([0, 1, 2, 3].map((n) => onSecondaryRateLimit(60, req, { log }, n))).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect([0, 1, 2].map((n) => onRateLimit(30, req, { log }, n))).toEqual([true, true, false]);
    expect(onSecondaryRateLimit(DEFAULT_RETRY_POLICY.maxWaitSeconds + 1, req, { log }, 0)).toBe(false);
    expect(onRateLimit(3_600, req, { log }, 0)).toBe(false);
  });
});
