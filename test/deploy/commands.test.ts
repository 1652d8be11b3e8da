import { describe, expect, it } from "vitest";
import {
  type ComposeProject,
  composeDown,
  composePull,
  composeUp,
} from "../../src/deploy/commands/compose.ts";
import {
  inspectContainers,
  parseInspect,
  projectContainerStates,
  projectContainers,
} from "../../src/deploy/commands/docker.ts";
import { fenced, takeLockDir, writeLockDetails } from "../../src/deploy/commands/lock.ts";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { pruneReleases, switchTo, untar, uploadAndSwitch } from "../../src/deploy/commands/release.ts";
import { judgeHealth } from "../../src/deploy/health.ts";
import { commandLine, quote, script } from "../../src/deploy/shell.ts";

const project = (flavor: "v1" | "v2", envFiles: string[] = []): ComposeProject => ({
  flavor,
  name: "web",
  directory: "/srv/sp/web/releases/abc/stacks/web",
  files: ["/srv/sp/web/releases/abc/stacks/web/compose.yaml"],
  envFiles,
});

describe("quoting", () => {
  it("leaves plain words alone and single-quotes everything else", () => {
    expect(quote("docker")).toBe("docker");
    expect(quote("/srv/a-b_c.d:e")).toBe("/srv/a-b_c.d:e");
    expect(quote("")).toBe("''");
    expect(quote("a b")).toBe("'a b'");
    expect(quote("it's")).toBe("'it'\\''s'");
    expect(quote("$(reboot)")).toBe("'$(reboot)'");
    expect(quote("x;rm -rf /")).toBe("'x;rm -rf /'");
  });

  it("round-trips hostile arguments through a real shell", async () => {
    const { execFileSync } = await import("node:child_process");
    const hostile = [
      "a b",
      "it's",
      '"q"',
      "$(echo pwned)",
      "`id`",
      "x;y",
      "a\nb",
      "*",
      "~",
      "-n",
      "\\",
      "é ünï 🚀",
    ];
    const out = execFileSync("sh", ["-c", `printf '%s\\0' ${hostile.map(quote).join(" ")}`]).toString();
    expect(out.split("\0").slice(0, -1)).toEqual(hostile);
  });

  it("refuses an empty command", () => {
    expect(() => commandLine([])).toThrow("empty command");
  });
});

describe("remote command builders", () => {
  const p = stackPaths("/srv/sp", "web");

  it("builds compose v2 and v1 invocations with explicit project, directory and files", () => {
    expect(commandLine(composeUp(project("v2"), { waitSeconds: 60 }))).toBe(
      "docker compose --project-name web --project-directory /srv/sp/web/releases/abc/stacks/web --file /srv/sp/web/releases/abc/stacks/web/compose.yaml up --detach --remove-orphans --wait --wait-timeout 60",
    );
    expect(commandLine(composeUp(project("v1"), { waitSeconds: 60 }))).toBe(
      "docker-compose --project-name web --project-directory /srv/sp/web/releases/abc/stacks/web --file /srv/sp/web/releases/abc/stacks/web/compose.yaml up --detach --remove-orphans",
    );
    expect(commandLine(composePull(project("v1"), ["api", "worker"]))).toMatch(
      / pull --quiet -- api worker$/,
    );
    expect(commandLine(composeDown(project("v2")))).toMatch(/ down --remove-orphans$/);
  });

  it("refuses several env files on compose v1, which takes one", () => {
    expect(() => composeUp(project("v1", ["/a.env", "/b.env"]))).toThrow("accepts one --env-file");
    expect(composeUp(project("v2", ["/a.env", "/b.env"]))).toContain("--env-file");
  });

  it("switches releases with a relative symlink renamed over current, in one round trip", () => {
    expect(commandLine(switchTo(p, "0123abc"))).toBe(
      `sh -c 'touch -c -- "$1" && ln -sfn -- "$2" "$3" && mv -T -- "$3" "$4"' sh /srv/sp/web/releases/0123abc releases/0123abc /srv/sp/web/current.next /srv/sp/web/current`,
    );
    expect(commandLine(untar("/srv/sp/web/releases/.incoming-x"))).toBe(
      "tar -x -z --no-same-owner -f - -C /srv/sp/web/releases/.incoming-x",
    );
  });

  it("locks with an atomic rename, details from stdin and the nonce beside them, not in argv but the nonce", () => {
    expect(commandLine(takeLockDir(p, "0123abcd"))).toBe(
      `sh -c 'mkdir -p -- "$1" || exit 1; t="$2.new.$$"; mkdir -- "$t" || exit 1; dd of="$t/details.json" status=none && printf '\\''%s'\\'' "$4" > "$t/nonce" || { rm -rf -- "$t"; exit 1; }; mv -T -- "$t" "$2" 2>/dev/null || { rm -rf -- "$t"; exit 75; }; readlink -- "$3" || :' sh /srv/sp/web/releases /srv/sp/web/.lock /srv/sp/web/current 0123abcd`,
    );
    expect(commandLine(writeLockDetails(p))).toBe("dd of=/srv/sp/web/.lock/details.json status=none");
    expect(() => takeLockDir(p, "x; rm -rf /")).toThrow("bad lock nonce");
  });

  it("fences a command by the lock's nonce: check and command in one round trip", () => {
    expect(commandLine(fenced(p, "0123abcd", ["docker-compose", "up", "-d"]))).toBe(
      `sh -c '[ "$(cat -- "$1/nonce" 2>/dev/null)" = "$2" ] || { echo "stackpilot: the lock $1 is no longer held by this deploy" >&2; exit 76; }; shift 2; exec "$@"' sh /srv/sp/web/.lock 0123abcd docker-compose up -d`,
    );
  });

  it("uploads, publishes and switches current in one round trip, the rename last", () => {
    const meta = [
      { name: "release.json", bytes: 321 },
      { name: "images.compose.yaml", bytes: 0 },
    ];
    expect(
      commandLine(uploadAndSwitch(p, "/srv/sp/web/releases/.incoming-x", "abc", meta, { nonce: "0123abcd" })),
    ).toBe(
      `sh -c 's=$1 r=$2 l=$3 n=$4 c=$5 L=$6 N=$7; shift 7; t="$s/tree" m="$s/meta"; fail() { rm -rf -- "$s"; exit 1; }; ` +
        `mkdir -p -- "$t" "$m" || fail; while [ $# -ge 2 ]; do dd bs=1 count="$2" of="$m/$1" status=none || fail; shift 2; done; ` +
        `tar -x -z --no-same-owner -f - -C "$t" || fail; ` +
        `[ -z "$N" ] || [ "$(cat -- "$L/nonce" 2>/dev/null)" = "$N" ] || { echo "stackpilot: the lock $L is no longer held by this deploy" >&2; fail; }; ` +
        `if [ -e "$t/.stackpilot" ] || [ -L "$t/.stackpilot" ]; then rm -rf -- "$t/.stackpilot" || fail; fi; ` +
        `mv -T -- "$m" "$t/.stackpilot" || fail; if [ -e "$r" ] || [ -L "$r" ]; then rm -rf -- "$r" || fail; fi; ` +
        `mv -T -- "$t" "$r" || fail; rmdir -- "$s"; touch -c -- "$r" && ln -sfn -- "$l" "$n" && mv -T -- "$n" "$c"' ` +
        "sh /srv/sp/web/releases/.incoming-x /srv/sp/web/releases/abc releases/abc /srv/sp/web/current.next /srv/sp/web/current " +
        "/srv/sp/web/.lock 0123abcd release.json 321 images.compose.yaml 0",
    );
    for (const bad of [
      { name: "../x", bytes: 1 },
      { name: ".hidden", bytes: 1 },
      { name: "a", bytes: -1 },
    ]) {
      expect(() => uploadAndSwitch(p, "/s", "abc", [bad])).toThrow("bad release meta file");
    }
  });

  it("prunes in one round trip: the newest `keep` and current stay", () => {
    expect(commandLine(pruneReleases(p, 5, "abc"))).toBe(
      `sh -c 'cd -- "$1" 2>/dev/null || exit 0; k=$2 c=$3; ls -1t | { n=0; set --; while IFS= read -r r; do n=$((n + 1)); ` +
        `if [ "$n" -gt "$k" ] && [ "$r" != "$c" ]; then set -- "$@" "$r"; fi; done; [ $# -eq 0 ] || exec rm -rf -- "$@"; }' ` +
        "sh /srv/sp/web/releases 5 abc",
    );
  });

  it("runs constant scripts whose arguments stay arguments, even hostile ones", async () => {
    const { execFileSync } = await import("node:child_process");
    const { mkdtempSync, readdirSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "sp-script-"));
    const hostile = join(dir, "a b; touch pwned $(id)");
    const argv = script('mkdir -p -- "$1"', hostile);
    execFileSync("sh", ["-c", commandLine(argv)]);
    expect(readdirSync(dir)).toEqual(["a b; touch pwned $(id)"]);
  });

  it("finds a project's containers by compose label and inspects them, in one round trip", () => {
    expect(commandLine(projectContainers("web"))).toBe(
      "docker ps --all --quiet --no-trunc --filter label=com.docker.compose.project=web",
    );
    expect(inspectContainers(["abc"])[3]).toContain("{{json .State}}");
    expect(commandLine(projectContainerStates("web"))).toBe(
      `sh -c 'ids=$(docker ps --all --quiet --no-trunc --filter "label=com.docker.compose.project=$1") || exit; ` +
        `[ -z "$ids" ] || { set -f; exec docker inspect --format "$2" -- $ids; }' sh web ` +
        `'{{.Id}}\t{{.Name}}\t{{index .Config.Labels "com.docker.compose.service"}}\t{{json .State}}` +
        `\t{{with index .Config.Labels "com.docker.compose.config-hash"}}{{.}}{{end}}\t{{.Image}}` +
        `\t{{with index .Config.Labels "com.docker.compose.oneoff"}}{{.}}{{end}}'`,
    );
  });
});

describe("host replies", () => {
  const line = (status: string, health = "", code = 0) =>
    `${"a".repeat(64)}\t/web-web-1\tweb\t${JSON.stringify({ Status: status, ExitCode: code, Running: true, ...(health ? { Health: { Status: health, FailingStreak: 0 } } : {}) })}`;

  it("parses the config hash and image id a deploy records, and docker inspect lines without them", () => {
    const image = `sha256:${"b".repeat(64)}`;
    expect(parseInspect(`${line("running")}\t${"c".repeat(64)}\t${image}\n`)[0]).toMatchObject({
      configHash: "c".repeat(64),
      image,
    });
    expect(parseInspect(line("running"))[0]).not.toHaveProperty("image");
    // A `compose run` container has no config hash label: `with` prints nothing for it.
    expect(parseInspect(`${line("running")}\t\t${image}\tTrue`)[0]).toMatchObject({ oneoff: true, image });
    expect(parseInspect(`${line("running")}\t\t${image}\tTrue`)[0]).not.toHaveProperty("configHash");
    expect(() => parseInspect(`${line("running")}\t${"c".repeat(64)}\tnginx:latest`)).toThrow(
      "unexpected docker inspect output",
    );
  });

  it("parses docker inspect lines and rejects garbage", () => {
    expect(parseInspect(`${line("running", "healthy")}\n`)).toEqual([
      {
        id: "a".repeat(64),
        name: "web-web-1",
        service: "web",
        status: "running",
        exitCode: 0,
        health: "healthy",
      },
    ]);
    expect(() => parseInspect("<html>502 Bad Gateway</html>")).toThrow(
      "unexpected docker inspect output, line 1",
    );
  });

  it("judges health: running and healthy is healthy; starting waits; exited or unhealthy fails", () => {
    expect(judgeHealth(parseInspect(line("running")), ["web"])).toEqual({ state: "healthy" });
    expect(judgeHealth(parseInspect(line("running", "starting")), ["web"]).state).toBe("progressing");
    expect(judgeHealth([], ["web"])).toEqual({ state: "progressing", waitingFor: ["web (no container)"] });
    expect(judgeHealth(parseInspect(line("exited", "", 1)), ["web"])).toEqual({
      state: "degraded",
      reason: "service web: container web-web-1 exited with code 1",
    });
    expect(judgeHealth(parseInspect(line("running", "unhealthy")), ["web"]).state).toBe("degraded");
  });
});

describe("which repositories may deploy to a host", () => {
  it("allows every repository when the host lists none, else only matching ones", async () => {
    const { repoAllowed } = await import("../../src/config/hostsFile.ts");
    const { HostSchema } = await import("../../src/config/hostsFile.ts");
    const open = HostSchema.parse({ name: "h", address: "h" });
    const closed = HostSchema.parse({ name: "h", address: "h", repos: ["acme/infra-*"] });
    expect(repoAllowed(open, "anyone/anything")).toBe(true);
    expect(repoAllowed(closed, "acme/infra-prod")).toBe(true);
    expect(repoAllowed(closed, "evil/infra-prod")).toBe(false);
  });
});

describe("repository identity", () => {
  it("is owner/name for every common remote URL form, without credentials", async () => {
    const { ownerAndName } = await import("../../src/cli/repoIdentity.ts");
    expect(ownerAndName("https://x-access-token:secret@github.com/acme/infra.git")).toBe("acme/infra");
    expect(ownerAndName("git@ghe.example.com:acme/infra.git")).toBe("acme/infra");
    expect(ownerAndName("ssh://git@ghe.example.com:2222/acme/infra")).toBe("acme/infra");
    expect(ownerAndName("/srv/repos/plain")).toBe("repos/plain");
  });
});
