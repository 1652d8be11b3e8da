import { describe, expect, it } from "vitest";
import { MirrorError } from "../../src/git/mirror.ts";
import { isPermanent, PermanentError, shortReason } from "../../src/github/jobs/jobErrors.ts";
import { PayloadError } from "../../src/github/payloads.ts";

const httpError = (status: number, message: string) => Object.assign(new Error(message), { status });

describe("which job errors are retried", () => {
  it("never retries what cannot succeed: refused clone URLs, gone repositories or commits, bad payloads, GitHub's 4xx", () => {
    for (const err of [
      new MirrorError("invalid", "a/b", "clone URL of a/b must be http(s), not ftp:"),
      new MirrorError("not-found", "a/b", "repository not found"),
      new MirrorError("ref-not-found", "a/b", "couldn't find remote ref"),
      new PayloadError("push: repository.clone_url is missing"),
      new PermanentError("plan exceeded its budget"),
      httpError(404, "Not Found"),
      httpError(422, "Validation Failed"),
      httpError(403, "Resource not accessible by integration"),
    ])
      expect(isPermanent(err), String(err)).toBe(true);
  });

  it("retries what may pass: network, timeouts, auth (a token may be renewed), 5xx and rate limits", () => {
    for (const err of [
      new MirrorError("network", "a/b", "could not reach the server"),
      new MirrorError("timeout", "a/b", "timed out"),
      new MirrorError("auth", "a/b", "refused (HTTP 401/403)"),
      httpError(502, "Bad Gateway"),
      httpError(403, "You have exceeded a secondary rate limit"),
      new Error("socket hang up"),
    ])
      expect(isPermanent(err), String(err)).toBe(false);
  });
});

describe("what users are told", () => {
  it("shows errors written for users, and only a reference for anything else", () => {
    expect(shortReason(new MirrorError("invalid", "a/b", "clone URL of a/b must be http(s)"), "d-1")).toBe(
      "clone URL of a/b must be http(s)",
    );
    const internal = shortReason(new TypeError("Cannot read properties of undefined (reading 'sha')"), "d-2");
    expect(internal).toBe("an internal error (delivery d-2); the Stackpilot server's log has the details");
    expect(shortReason(httpError(404, `Not Found${"\nmore".repeat(20)}`), "d-3").split("\n")).toHaveLength(5);
  });
});
