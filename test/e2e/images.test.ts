// Builds on a builder host, images through a registry, and image operations only where a stack
// uses the image: 4 real hosts (h1 builder, h2 and h3 run the app, h4 only an accessory stack).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/state/store.ts";
import { runCli } from "../helpers/cli.ts";
import { type Harness, hostEntry, sleeperCompose, startHarness } from "./harness/harness.ts";

let h: Harness;
let tmp: string;
let repoDir: string;
let dataDir: string;

const deploy = (hostsFile: string, data = dataDir) =>
  runCli("deploy", "--repo", repoDir, "--hosts", hostsFile, "--data", data, "--health-timeout", "30");
const git = (...args: string[]) => execFileSync("git", args, { cwd: repoDir, encoding: "utf8" }).trim();
function commit(message: string) {
  git("add", "-A");
  git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message);
}
function write(path: string, text: string) {
  mkdirSync(dirname(join(repoDir, path)), { recursive: true });
  writeFileSync(join(repoDir, path), text);
}

type HostsOptions = { registries?: object[]; auth?: Record<string, object> };
/** A hosts file: h1 builds, h2/h3 run the app, h4 runs the accessory stack only. */
function hostsFile(name: string, opts: HostsOptions = {}): string {
  const roles = ["builder", "app", "app", "db"];
  const hosts = h.hosts.map((t, i) =>
    hostEntry(t, {
      labels: { role: roles[i] },
      builder: i === 0,
      ...(opts.auth?.[t.name] ? { registry_auth: opts.auth[t.name] } : {}),
    }),
  );
  const file = join(tmp, name);
  writeFileSync(file, JSON.stringify({ hosts, registries: opts.registries ?? [] }, null, 2));
  return file;
}

/** The harness registry that wants a login, with the right password (from its root-only file). */
const privateRegistry = () => ({
  name: "private",
  address: h.authRegistry.address,
  namespace: "acme",
  username: h.authRegistry.username,
  password: { file: h.authRegistry.passwordFile },
});

/** The commands recorded for one host's deployments, from the state database. */
async function commandsOn(host: string, data = dataDir): Promise<string[]> {
  const store = await openStore({ dataDir: data });
  try {
    const lines: string[] = [];
    for (const d of await store.listDeployments({ host, limit: 1000 })) {
      const full = await store.getDeployment(d.id);
      for (const log of full?.logs ?? []) lines.push(log.command);
    }
    return lines;
  } finally {
    await store.close();
  }
}

async function builds(data = dataDir) {
  const store = await openStore({ dataDir: data });
  try {
    return await store.listBuilds(repoDir); // no origin: the CLI's repository id is its path
  } finally {
    await store.close();
  }
}

async function appImage(host: string): Promise<string> {
  const r = await h.docker(host, [
    "ps",
    "--filter",
    "label=com.docker.compose.project=app",
    "--format",
    "{{.Image}}",
  ]);
  return r.stdout.trim();
}

async function imagesOn(host: string): Promise<string[]> {
  const r = await h.docker(host, ["images", "--format", "{{.Repository}}:{{.Tag}}"]);
  return r.stdout.trim().split("\n").filter(Boolean);
}

let mainHosts: string;
let firstImage: string;

beforeAll(async () => {
  h = await startHarness({ hosts: 4 });
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-img-"));
  repoDir = join(tmp, "repo");
  dataDir = join(tmp, "data");
  mkdirSync(repoDir);
  git("init", "-q", "-b", "main");
  write(
    ".github/stackpilot.yml",
    [
      "version: 1",
      "stacks:",
      "  - name: app",
      "    hosts: [{ role: app }]",
      "    image_tags: [latest]",
      "  - name: db",
      "    hosts: [{ role: db }]",
      "",
    ].join("\n"),
  );
  write(
    "stacks/app/compose.yaml",
    sleeperCompose("web", ["build:", "  context: ../../apps/web", "  network: none", "image: app-web"]),
  );
  write("apps/web/Dockerfile", `FROM ${h.registry.image}\nCOPY page.txt /page.txt\n`);
  write("apps/web/page.txt", "version 1\n");
  write("stacks/db/compose.yaml", sleeperCompose("store", [`image: ${h.image}`]));
  commit("app and db");
  mainHosts = hostsFile("hosts.yml", {
    registries: [{ name: "main", address: h.registry.address, namespace: "acme" }],
  });
}, 180_000);

afterAll(async () => {
  await h?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe("builds through a registry", () => {
  it("builds once on the builder, pushes, two deploy hosts pull and run it, the accessory host gets no image operation", async () => {
    const sha = git("rev-parse", "HEAD");
    const r = await deploy(mainHosts);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    firstImage = `${h.registry.address}/acme/app-web:${sha}`;
    // The plan says what runs where: one build, and per host its pull.
    expect(r.out).toContain(`build  app/web on h1 -> ${firstImage}`);
    expect(r.out).toMatch(new RegExp(`deploy h2:.*\\n.*image: pull ${reEscape(firstImage)}`));
    expect(r.out).toMatch(/3 succeeded, 0 failed/);

    expect(await appImage("h2")).toBe(firstImage);
    expect(await appImage("h3")).toBe(firstImage);
    const id = (
      await h.docker("h2", ["ps", "-q", "--filter", "label=com.docker.compose.project=app"])
    ).stdout.trim();
    expect((await h.docker("h2", ["exec", id, "cat", "/page.txt"])).stdout).toBe("version 1\n");

    // Pushed with the commit and the extra tag from the config.
    const tags = await (await fetch(`http://${h.registry.address}/v2/acme/app-web/tags/list`)).json();
    expect((tags as { tags: string[] }).tags.sort()).toEqual([sha, "latest"].sort());

    // h4 runs db only: no login, pull or tag of the app image, and its engine never saw it.
    const h4 = await commandsOn("h4");
    expect(h4.length).toBeGreaterThan(0);
    expect(h4.filter((c) => /docker (login|pull|tag|build|push)/.test(c))).toEqual([]);
    expect((await imagesOn("h4")).filter((i) => i.includes("app-web"))).toEqual([]);
    // Deploy hosts never build; h2 pulled in its preflight.
    const h2 = await commandsOn("h2");
    expect(h2.some((c) => c.includes("docker build"))).toBe(false);
    expect(h2).toContain(`docker pull --quiet ${firstImage}`);
    expect(h2.some((c) => / up --detach --remove-orphans --no-build/.test(c))).toBe(true);

    const b = await builds();
    expect(b.map((x) => [x.stack, x.service, x.builder, x.status, x.image])).toEqual([
      ["app", "web", "h1", "succeeded", firstImage],
    ]);
  });

  it("a second deploy with unchanged build inputs builds and pushes nothing and reuses the image", async () => {
    write(
      "stacks/app/compose.yaml",
      readFileSync(join(repoDir, "stacks/app/compose.yaml"), "utf8").replace(
        "    init: true\n",
        "    init: true\n    environment:\n      MODE: two\n",
      ),
    );
    commit("app: environment only");
    const r = await deploy(mainHosts);
    expect(r.code, `${r.out}\n${r.err}`).toBe(0);
    expect(r.out).toMatch(/reuse +app\/web on h1/);
    expect(r.out).toMatch(/2 succeeded, 0 failed/);
    expect(await builds()).toHaveLength(1);
    // The new release runs the image built for the first commit, with the new environment.
    expect(await appImage("h2")).toBe(firstImage);
    const id = (
      await h.docker("h3", ["ps", "-q", "--filter", "label=com.docker.compose.project=app"])
    ).stdout.trim();
    expect((await h.docker("h3", ["exec", id, "sh", "-c", 'echo "$MODE"'])).stdout.trim()).toBe("two");
  });
});

describe("refusals", () => {
  it("without a registry and with builder != deploy host: the plan fails with the reason and no host is touched", async () => {
    write("apps/web/page.txt", "version 2\n");
    commit("app: page v2");
    const data = join(tmp, "data-noreg");
    const r = await deploy(hostsFile("hosts-noreg.yml"), data);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      "app is built on h1 but deploys to h2, h3, and no registry is configured: the image would exist on h1 only",
    );
    expect(await commandsOn("h2", data)).toEqual([]);
    expect(await appImage("h2")).toBe(firstImage);
  });

  it("a wrong registry password on one deploy host fails that host in preflight; nothing is switched there", async () => {
    const wrong = join(tmp, "wrong-password");
    writeFileSync(wrong, "not-the-password\n");
    const before = (await h.exec("h3", ["readlink", `${h.host("h3").deployRoot}/app/current`])).stdout.trim();
    const file = hostsFile("hosts-auth.yml", {
      registries: [privateRegistry()],
      auth: { h3: { private: { username: h.authRegistry.username, password: { file: wrong } } } },
    });
    const r = await deploy(file);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/app +h2 +succeeded/);
    expect(r.out).toMatch(/app +h3 +failed .*preflight: login to private/);
    // The password was read from its file and went to stdin only: not in the output, nor the logs.
    const password = readFileSync(h.authRegistry.passwordFile, "utf8").trim();
    expect(`${r.out}${r.err}`).not.toContain(password);
    expect((await commandsOn("h3")).join("\n")).not.toContain(password);
    // h2 runs the image from the private registry; h3 still runs its old release.
    expect(await appImage("h2")).toMatch(new RegExp(`^${reEscape(h.authRegistry.address)}/acme/app-web:`));
    expect((await h.exec("h3", ["readlink", `${h.host("h3").deployRoot}/app/current`])).stdout.trim()).toBe(
      before,
    );
    expect(await appImage("h3")).toBe(firstImage);
  });
});

describe("an unreachable registry", () => {
  it("from one deploy host fails that host in preflight; the builder and the other host go on", async () => {
    const h2 = h.host("h2");
    const [ip, port] = h.authRegistry.address.split(":") as [string, string];
    // Only h2's network namespace refuses the registry's port; SSH to h2 still works.
    const rule = [
      "OUTPUT",
      "-p",
      "tcp",
      "-d",
      ip,
      "--dport",
      port,
      "-j",
      "REJECT",
      "--reject-with",
      "tcp-reset",
    ];
    const iptables = (op: string) =>
      execFileSync("nsenter", [`--net=/run/netns/${h2.netns}`, "iptables", op, ...rule], { stdio: "pipe" });
    write("apps/web/page.txt", "version 3\n");
    commit("app: page v3");
    const before = (await h.exec("h2", ["readlink", `${h2.deployRoot}/app/current`])).stdout.trim();
    const imageBefore = await appImage("h2");
    iptables("-I");
    try {
      const r = await deploy(
        hostsFile("hosts-auth2.yml", {
          registries: [privateRegistry()],
        }),
      );
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/app +h3 +succeeded/);
      expect(r.out).toMatch(/app +h2 +failed .*preflight: login to private .*failed: .*(refused|connect)/i);
    } finally {
      iptables("-D");
    }
    expect((await h.exec("h2", ["readlink", `${h2.deployRoot}/app/current`])).stdout.trim()).toBe(before);
    expect(await appImage("h2")).toBe(imageBefore);
    expect(await appImage("h3")).toBe(`${h.authRegistry.address}/acme/app-web:${git("rev-parse", "HEAD")}`);
  });
});

function reEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
