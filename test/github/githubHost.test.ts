// Which GitHub the App talks to, from GHE_HOST / GHE_PROTOCOL: the same API URL Probot derives,
// the one git origin tokens may go to, and clear refusals of values that would send them elsewhere.
import { createProbot } from "probot";
import { describe, expect, it } from "vitest";
import { GITHUB_COM, GitHubHostError, githubHost } from "../../src/github/api/githubHost.ts";
import { parseEnv } from "../../src/github/server.ts";
import { testAppPrivateKey } from "../helpers/webhooks.ts";

/** The base URL of the Octokit Probot itself builds from an environment. */
async function probotApiUrl(env: Record<string, string | undefined>): Promise<string> {
  const probot = createProbot({ env: { APP_ID: "1", PRIVATE_KEY: testAppPrivateKey, ...env } });
  return (await probot.auth()).request.endpoint.DEFAULTS.baseUrl;
}

describe("githubHost", () => {
  it("is github.com without GHE_HOST (or with an empty one, as Probot reads it)", async () => {
    expect(githubHost({})).toEqual({ origin: "https://github.com", apiUrl: "https://api.github.com" });
    expect(githubHost({ GHE_HOST: "", GHE_PROTOCOL: "https" })).toEqual(GITHUB_COM);
    expect(await probotApiUrl({})).toBe(GITHUB_COM.apiUrl);
  });

  it("is the Enterprise host with GHE_HOST, its API under /api/v3, as Probot derives it", async () => {
    const envs: { GHE_HOST: string; GHE_PROTOCOL?: string }[] = [
      { GHE_HOST: "ghe.example.com" },
      { GHE_HOST: "ghe.example.com:8443", GHE_PROTOCOL: "https" },
      { GHE_HOST: "10.0.0.5:8080", GHE_PROTOCOL: "http" },
    ];
    for (const env of envs) {
      const host = githubHost(env);
      const origin = `${env.GHE_PROTOCOL ?? "https"}://${env.GHE_HOST}`;
      expect(host).toEqual({ origin, apiUrl: `${origin}/api/v3` });
      expect(await probotApiUrl(env)).toBe(host.apiUrl);
    }
    // Case and a default port do not make another origin.
    expect(githubHost({ GHE_HOST: "GHE.Example.com:443" }).origin).toBe("https://ghe.example.com");
  });

  it("refuses a GHE_HOST with a scheme, path or credentials, and a GHE_PROTOCOL other than http(s)", () => {
    for (const GHE_HOST of [
      "https://ghe.example.com",
      "ghe.example.com/api",
      "token@ghe.example.com",
      "ghe .com",
    ])
      expect(() => githubHost({ GHE_HOST }), GHE_HOST).toThrow(
        new GitHubHostError(
          `GHE_HOST must be a host name with an optional port (such as ghe.example.com or ghe.example.com:8443), not ${JSON.stringify(GHE_HOST)}`,
        ),
      );
    expect(() => githubHost({ GHE_HOST: "ghe.example.com", GHE_PROTOCOL: "ftp" })).toThrow(
      'GHE_PROTOCOL must be https or http, not "ftp"',
    );
  });

  it("is checked when the server reads its environment", () => {
    expect(() => parseEnv({ GHE_HOST: "ghe.example.com/x" })).toThrow(/^GHE_HOST must be a host name/);
    expect(parseEnv({ GHE_HOST: "ghe.example.com", GHE_PROTOCOL: "http" })).toMatchObject({
      GHE_HOST: "ghe.example.com",
      GHE_PROTOCOL: "http",
    });
  });
});
