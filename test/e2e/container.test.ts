// The Dockerfile, built for real and run on a harness host. No image can be pulled here, so the
// Node base image is made from this machine's own files (container/offlineBase.sh: Node 24, npm,
// git, busybox, their libraries) and `npm ci` in the build installs from the machine's npm cache
// through a registry this test serves (container/npmMirror.ts). The container runs on h1, answers
// /healthz and /readyz, runs as uid 1000, takes a webhook signed with the secret from a file, is
// reported healthy by Docker's HEALTHCHECK, and deploys a push to h2 over SSH: GitHub is the
// simulated one (helpers/fakeGitHub.ts) on the git server's origin, which this test serves on the
// harness bridge so the container can reach it.
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stackPaths } from "../../src/deploy/commands/paths.ts";
import { type FakeGitHub, fakeGitHub } from "../helpers/fakeGitHub.ts";
import { type GitHttpServer, type RemoteRepo, startGitHttpServer } from "../helpers/gitHttpServer.ts";
import { aboutRepo, deliverWebhook, examplePayload, testAppPrivateKey } from "../helpers/webhooks.ts";
import { startNpmMirror } from "./container/npmMirror.ts";
import { type Harness, hostEntry, run, sleeperCompose, startHarness } from "./harness/harness.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BASE_IMAGE = "stackpilot-test/node24:1";
const IMAGE = "stackpilot:e2e";
const SECRET = "container-webhook-secret";
const CONTAINER = "stackpilot-e2e";
const REPO = "acme/container";
const CONFIG = [
  "version: 1",
  "defaults:",
  "  environment: production",
  "environments:",
  "  production:",
  '    hosts: ["h2"]',
  "    deploy_on: merge",
  "",
].join("\n");
const webCompose = (image: string, version: string) =>
  sleeperCompose("web", [`image: ${image}`, "environment:", `  VERSION: "${version}"`]);

let h: Harness;
let tmp: string;
let base: string;
let github: FakeGitHub;
let git: GitHttpServer;
let repo: RemoteRepo;

async function ok(what: string, result: Promise<{ code: number; stdout: string; stderr: string }>) {
  const r = await result;
  if (r.code !== 0)
    throw new Error(`${what} failed (${r.code}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: () => Promise<string>,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${await what()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  h = await startHarness({ hosts: 2 }); // h1 runs the container, h2 is its deploy target
  tmp = mkdtempSync(join(tmpdir(), "sp-e2e-container-"));
  chmodSync(tmp, 0o755);
  const rootfs = join(tmp, "rootfs.tar");
  await ok(
    "the offline base",
    run("sh", [join(ROOT, "test/e2e/container/offlineBase.sh"), process.execPath, rootfs], {
      timeoutMs: 300_000,
    }),
  );
  await ok(
    "docker import",
    h.docker("h1", ["import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", rootfs, BASE_IMAGE], {
      timeoutMs: 300_000,
    }),
  );
  // The bridge's own address (where the harness' registry listens) is reachable from the engine.
  const gateway = h.registry.address.split(":")[0] as string;
  const mirror = await startNpmMirror({ lockfile: join(ROOT, "package-lock.json"), host: gateway });
  try {
    await ok(
      "docker build",
      h.docker(
        "h1",
        [
          "build",
          "--network",
          "host",
          "--build-arg",
          `NODE_IMAGE=${BASE_IMAGE}`,
          "--build-arg",
          `NPM_CONFIG_REGISTRY=${mirror.url}`,
          "-t",
          IMAGE,
          ROOT,
        ],
        { env: { DOCKER_BUILDKIT: "0" }, timeoutMs: 1_500_000 },
      ),
    );
    expect(mirror.served()).toBeGreaterThan(100);
  } finally {
    await mirror.close();
  }

  // GitHub and the repository, on the bridge address too: the container, in h1's netns, reaches
  // the /24 only (the harness gives hosts no default route).
  github = fakeGitHub();
  git = await startGitHttpServer({ token: github.token, api: github.handle, host: gateway });
  repo = git.createRepo(REPO);
  repo.commit(
    { ".github/stackpilot.yml": CONFIG, "stacks/web/compose.yaml": webCompose(h.image, "1") },
    "init",
  );

  const secrets = join(tmp, "secrets");
  mkdirSync(secrets, { mode: 0o755 });
  writeFileSync(join(secrets, "webhook_secret"), `${SECRET}\n`, { mode: 0o644 });
  writeFileSync(join(secrets, "github_app_key"), testAppPrivateKey, { mode: 0o644 });
  // The SSH key as a private file secret, owned by the container's uid.
  copyFileSync(h.host("h2").keyPath, join(secrets, "deploy_key"));
  chmodSync(join(secrets, "deploy_key"), 0o600);
  chownSync(join(secrets, "deploy_key"), 1000, 1000);
  // h2 only (h1 runs the App), its host key pinned by fingerprint.
  const hostsFile = join(tmp, "hosts.yml");
  writeFileSync(
    hostsFile,
    JSON.stringify({ hosts: [hostEntry(h.host("h2"), { key: { file: "/run/secrets/deploy_key" } })] }),
    { mode: 0o644 },
  );
  const host = h.host("h1");
  await ok(
    "docker run",
    h.docker("h1", [
      "run",
      "-d",
      "--name",
      CONTAINER,
      // h1's own network: its engine runs with --bridge=none, so this is the network with the
      // harness /24 on it (the fake GitHub on the bridge, h2's sshd), and :3000 answers on h1's address.
      "--network",
      "host",
      "-e",
      "APP_ID=1",
      "-e",
      "PRIVATE_KEY_PATH=/run/secrets/github_app_key",
      "-e",
      "WEBHOOK_SECRET_FILE=/run/secrets/webhook_secret",
      // HOST and PORT as the image sets them (0.0.0.0:3000), which its HEALTHCHECK relies on.
      "-e",
      `GHE_HOST=${new URL(git.url).host}`,
      "-e",
      "GHE_PROTOCOL=http",
      "-e",
      "STACKPILOT_APP_SLUG=stackpilot",
      "-e",
      "STACKPILOT_HOSTS_FILE=/etc/stackpilot/hosts.yml",
      "-v",
      `${secrets}:/run/secrets:ro`,
      "-v",
      `${hostsFile}:/etc/stackpilot/hosts.yml:ro`,
      IMAGE,
    ]),
  );
  base = `http://${host.address}:3000`;
}, 1_800_000);

afterAll(async () => {
  await h?.docker("h1", ["rm", "-f", CONTAINER]).catch(() => {});
  await git?.close();
  // Removed before the harness stops: deleting a gigabyte of layers can outlast its stop timeout.
  await h?.docker("h1", ["rmi", "-f", IMAGE, BASE_IMAGE], { timeoutMs: 600_000 }).catch(() => {});
  await h?.docker("h1", ["image", "prune", "-af"], { timeoutMs: 600_000 }).catch(() => {});
  await h?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const logs = async () => {
  const r = await h.docker("h1", ["logs", "--tail", "80", CONTAINER]);
  return `${r.stdout}\n${r.stderr}`;
};

describe("the container image", () => {
  it("answers /healthz, then /readyz once its embedded database and queue are open", async () => {
    const health = await waitFor(
      async () => {
        const res = await fetch(`${base}/healthz`);
        return res.status === 200 ? ((await res.json()) as unknown) : undefined;
      },
      120_000,
      async () => `/healthz; logs:\n${await logs()}`,
    );
    expect(health).toEqual({ status: "ok" });
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${base}/readyz`);
        return res.status === 200 ? ((await res.json()) as unknown) : undefined;
      },
      180_000,
      async () => `/readyz; logs:\n${await logs()}`,
    );
    expect(ready).toEqual({ status: "ready" });
    // Start-up needs nothing from GitHub (the slug is given): it answers even while GitHub is down.
    expect(github.requests).toEqual([]);
  }, 400_000);

  it("runs as the unprivileged uid 1000 with its data dir at /data", async () => {
    expect((await ok("docker exec id", h.docker("h1", ["exec", CONTAINER, "id", "-u"]))).trim()).toBe("1000");
    const owner = await ok(
      "stat /data",
      h.docker("h1", ["exec", CONTAINER, "stat", "-c", "%u", "/data/pglite"]),
    );
    expect(owner.trim()).toBe("1000");
    expect(await ok("git", h.docker("h1", ["exec", CONTAINER, "git", "--version"]))).toMatch(/^git version/);
  });

  it("takes a webhook signed with the secret read from its file, and refuses another signature", async () => {
    const hooks = `${base}/api/github/webhooks`;
    const deliver = (secret: string, delivery: string) =>
      deliverWebhook(hooks, secret, { event: "ping", payload: examplePayload("ping"), id: delivery });
    expect(await deliver(SECRET, "c-1")).toBe(200);
    expect(await deliver("another secret", "c-2")).toBe(401);
    expect(await logs()).not.toContain(SECRET);
  });

  it("deploys a push to main to h2 over SSH and reports the deployment's success to GitHub", async () => {
    const before = repo.bareGit("rev-parse", "main");
    const after = repo.commit({ "stacks/web/compose.yaml": webCompose(h.image, "2") }, "web 2");
    const payload = aboutRepo(examplePayload("push"), { fullName: REPO, cloneUrl: git.cloneUrl(REPO) });
    Object.assign(payload, { ref: "refs/heads/main", before, after, deleted: false, forced: false });
    const status = await deliverWebhook(`${base}/api/github/webhooks`, SECRET, {
      event: "push",
      payload,
      id: "c-push-1",
    });
    expect(status).toBe(200);

    const seen = async () =>
      `GitHub saw ${JSON.stringify(github.requests.map((r) => `${r.method} ${r.path}`))}, check runs ${JSON.stringify(
        github.checkRuns.map((c) => c.state),
      ).slice(0, 4000)}; logs:\n${await logs()}`;
    const final = await waitFor(
      async () => {
        const states = github.deployments.flatMap((d) => d.statuses.map((s) => s.state));
        return states.find((s) => s === "success" || s === "failure" || s === "error");
      },
      180_000,
      async () => `a final deployment status; ${await seen()}`,
    );
    expect(final, await seen()).toBe("success");
    expect(github.deployments.map((d) => [d.repo, d.body.environment, d.body.ref])).toEqual([
      [REPO, "production", after],
    ]);
    expect(github.deployments[0]?.statuses.map((s) => s.state)).toEqual(["queued", "in_progress", "success"]);
    expect(
      github.checkRuns.find((c) => c.state.name === "stackpilot/deploy: production")?.state,
    ).toMatchObject({
      status: "completed",
      conclusion: "success",
      head_sha: after,
    });
    expect(github.unexpected).toEqual([]);
    expect(git.fetches(REPO)).toBeGreaterThan(0);

    // On h2: `current` is the pushed commit's release and the compose project runs it.
    const h2 = h.host("h2");
    const current = await h.exec(h2, ["readlink", stackPaths(h2.deployRoot, "web").current]);
    expect(current.stdout.trim()).toBe(`releases/${after}`);
    const ids = (
      await h.docker("h2", ["ps", "-q", "--filter", "label=com.docker.compose.project=web"])
    ).stdout
      .split("\n")
      .filter(Boolean);
    expect(ids).toHaveLength(1);
    const env = await ok(
      "docker inspect",
      h.docker("h2", ["inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", ids[0] as string]),
    );
    expect(env).toMatch(/^VERSION=2$/m);
    // Nothing of Docker in the image: the deploy ran compose on h2, over SSH.
    const docker = await h.docker("h1", [
      "exec",
      CONTAINER,
      "sh",
      "-c",
      "command -v docker docker-compose; echo looked",
    ]);
    expect(docker.stdout.trim()).toBe("looked");
  }, 240_000);

  it("is reported healthy by Docker's HEALTHCHECK", async () => {
    const status = await waitFor(
      async () => {
        const r = await h.docker("h1", ["inspect", "--format", "{{.State.Health.Status}}", CONTAINER]);
        return r.stdout.trim() === "healthy" ? "healthy" : undefined;
      },
      120_000,
      async () => `the health status; logs:\n${await logs()}`,
    );
    expect(status).toBe("healthy");
  }, 150_000);
});
