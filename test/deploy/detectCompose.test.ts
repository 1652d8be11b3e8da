import { describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { detectCompose } from "../../src/deploy/orchestrate.ts";
import { type RemoteExec, type RemoteResult, Runner } from "../../src/deploy/runner.ts";

/** A host that answers each command line with the exit code the test gives it (127 otherwise). */
function fakeHost(codes: Record<string, number>): RemoteExec & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    async exec(_host, line): Promise<RemoteResult> {
      sent.push(line);
      return { code: codes[line] ?? 127, stdout: "", stderr: "", durationMs: 1 };
    },
  };
}

const host = (compose?: string) =>
  HostSchema.parse({ name: "h1", address: "192.0.2.1", ...(compose ? { compose } : {}) });

describe("compose flavor detection (compose: auto)", () => {
  it("takes v2 when `docker compose` answers, and asks nothing else", async () => {
    const remote = fakeHost({ "docker compose version --short": 0 });
    expect(await detectCompose(new Runner(remote), host())).toBe("v2");
    expect(remote.sent).toEqual(["docker compose version --short"]);
  });

  it("takes v1 when docker-compose is on the PATH, without starting it (a Python start per deploy)", async () => {
    const remote = fakeHost({ "docker compose version --short": 125, "command -v docker-compose": 0 });
    expect(await detectCompose(new Runner(remote), host())).toBe("v1");
    expect(remote.sent).toEqual(["docker compose version --short", "command -v docker-compose"]);
    expect(remote.sent.some((l) => l.startsWith("docker-compose"))).toBe(false);
  });

  it("fails clearly when neither is there", async () => {
    const remote = fakeHost({});
    await expect(detectCompose(new Runner(remote), host())).rejects.toThrow(
      /h1: `docker compose` does not answer and `docker-compose` is not on the PATH/,
    );
  });

  it("sends nothing when the hosts file names the flavor", async () => {
    const remote = fakeHost({});
    expect(await detectCompose(new Runner(remote), host("docker compose"))).toBe("v2");
    expect(await detectCompose(new Runner(remote), host("docker-compose"))).toBe("v1");
    expect(remote.sent).toEqual([]);
  });
});
