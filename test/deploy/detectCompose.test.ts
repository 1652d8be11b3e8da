// Compose flavor detection: one round trip of shell builtins, run here through a real `sh` with
// a made-up HOME, plugin directory and PATH.
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import { CLI_PLUGIN_DIRS, composeFlavorProbe } from "../../src/deploy/commands/compose.ts";
import { composeOf, detectCompose, forgetCompose } from "../../src/deploy/hostTarget.ts";
import { type RemoteExec, type RemoteResult, Runner } from "../../src/deploy/runner.ts";
import { commandLine } from "../../src/deploy/shell.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-compose-"));
  for (const d of ["home", "plugins", "bin"]) mkdirSync(join(dir, d));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function executable(path: string) {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\nexit 0\n");
  chmodSync(path, 0o755);
}

/** Runs what detectCompose sends in a local `sh`, with only our directories to find things in. */
function localHost(): RemoteExec & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    async exec(_host, line): Promise<RemoteResult> {
      sent.push(line);
      // The builder's default plugin dirs are replaced by ours, so this machine's docker does not count.
      const local = line.replace(CLI_PLUGIN_DIRS.join(" "), join(dir, "plugins")).replace(/^sh /, "/bin/sh ");
      try {
        const { stdout, stderr } = await promisify(execFile)("/bin/sh", ["-c", local], {
          env: { HOME: join(dir, "home"), PATH: join(dir, "bin") },
        });
        return { code: 0, stdout, stderr, durationMs: 1 };
      } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr, durationMs: 1 };
      }
    },
  };
}

const host = (compose?: string) =>
  HostSchema.parse({ name: "h1", address: "192.0.2.1", ...(compose ? { compose } : {}) });

describe("compose flavor detection (compose: auto)", () => {
  it("sends one command naming the docker CLI's plugin directories", () => {
    const line = commandLine(composeFlavorProbe());
    expect(line).toContain(CLI_PLUGIN_DIRS.join(" "));
  });

  it("takes v2 when the compose plugin is installed (in ~/.docker or a system plugin directory)", async () => {
    executable(join(dir, "home/.docker/cli-plugins/docker-compose"));
    const remote = localHost();
    expect(await detectCompose(new Runner(remote), host())).toBe("v2");
    expect(remote.sent).toHaveLength(1);
    rmSync(join(dir, "home/.docker"), { recursive: true });
    executable(join(dir, "plugins/docker-compose"));
    expect(await detectCompose(new Runner(localHost()), host())).toBe("v2");
  });

  it("takes v1 when only docker-compose is on the PATH, without starting it", async () => {
    writeFileSync(join(dir, "bin/docker-compose"), "#!/bin/sh\necho started >&2\nexit 3\n");
    chmodSync(join(dir, "bin/docker-compose"), 0o755);
    const remote = localHost();
    expect(await detectCompose(new Runner(remote), host())).toBe("v1");
    expect(remote.sent).toHaveLength(1);
  });

  it("prefers the plugin when both are installed", async () => {
    executable(join(dir, "plugins/docker-compose"));
    executable(join(dir, "bin/docker-compose"));
    expect(await detectCompose(new Runner(localHost()), host())).toBe("v2");
  });

  it("fails clearly when neither is there", async () => {
    await expect(detectCompose(new Runner(localHost()), host())).rejects.toThrow(
      "h1: neither the `docker compose` plugin nor `docker-compose` is installed there",
    );
  });

  it("sends nothing when the hosts file names the flavor", async () => {
    const remote = localHost();
    expect(await detectCompose(new Runner(remote), host("docker compose"))).toBe("v2");
    expect(await detectCompose(new Runner(remote), host("docker-compose"))).toBe("v1");
    expect(remote.sent).toEqual([]);
  });
});

describe("compose flavor per transport (composeOf)", () => {
  it("asks a host once per transport, again after forgetCompose, and never keeps a failure", async () => {
    const remote = localHost();
    const runner = new Runner(remote);
    await expect(composeOf(remote, runner, host())).rejects.toThrow("neither");
    executable(join(dir, "bin/docker-compose"));
    expect(await composeOf(remote, runner, host())).toBe("v1");
    executable(join(dir, "plugins/docker-compose"));
    expect(await composeOf(remote, runner, host())).toBe("v1");
    expect(remote.sent).toHaveLength(2);
    // Another transport (another App, or a CLI command) asks for itself.
    expect(await composeOf(localHost(), runner, host())).toBe("v2");
    forgetCompose(remote, host());
    expect(await composeOf(remote, runner, host())).toBe("v2");
    expect(remote.sent).toHaveLength(4);
  });

  it("does not answer for a host whose hosts-file setting changed", async () => {
    const remote = localHost();
    executable(join(dir, "bin/docker-compose"));
    expect(await composeOf(remote, new Runner(remote), host())).toBe("v1");
    expect(await composeOf(remote, new Runner(remote), host("docker compose"))).toBe("v2");
  });
});
