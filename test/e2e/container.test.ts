// The Dockerfile, built for real and run on a harness host. No image can be pulled here, so the
// Node base image is made from this machine's own files (container/offlineBase.sh: Node 24, npm,
// git, busybox, their libraries) and `npm ci` in the build installs from the machine's npm cache
// through a registry this test serves (container/npmMirror.ts). The container then answers
// /healthz and /readyz, runs as uid 1000, takes a webhook signed with the secret from a file, and
// Docker's HEALTHCHECK reports it healthy.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { examplePayload, sign, testAppPrivateKey } from "../helpers/webhooks.ts";
import { startNpmMirror } from "./container/npmMirror.ts";
import { type Harness, run, startHarness } from "./harness/harness.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BASE_IMAGE = "stackpilot-test/node24:1";
const IMAGE = "stackpilot:e2e";
const SECRET = "container-webhook-secret";
const CONTAINER = "stackpilot-e2e";

let h: Harness;
let tmp: string;
let base: string;

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
  h = await startHarness({ hosts: 1 });
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

  const secrets = join(tmp, "secrets");
  mkdirSync(secrets, { mode: 0o755 });
  writeFileSync(join(secrets, "webhook_secret"), `${SECRET}\n`, { mode: 0o644 });
  writeFileSync(join(secrets, "github_app_key"), testAppPrivateKey, { mode: 0o644 });
  const host = h.hosts[0];
  if (!host) throw new Error("no harness host");
  await ok(
    "docker run",
    h.docker("h1", [
      "run",
      "-d",
      "--name",
      CONTAINER,
      "--network",
      "host",
      "-e",
      "APP_ID=1",
      "-e",
      "PRIVATE_KEY_PATH=/run/secrets/github_app_key",
      "-e",
      "WEBHOOK_SECRET_FILE=/run/secrets/webhook_secret",
      // HOST and PORT as the image sets them (0.0.0.0:3000), which its HEALTHCHECK relies on.
      // GitHub is a port nothing listens on: the App must start and answer all the same.
      "-e",
      "GHE_HOST=127.0.0.1:9",
      "-e",
      "GHE_PROTOCOL=http",
      "-e",
      "STACKPILOT_APP_SLUG=stackpilot",
      "-v",
      `${secrets}:/run/secrets:ro`,
      IMAGE,
    ]),
  );
  base = `http://${host.address}:3000`;
}, 1_800_000);

afterAll(async () => {
  await h?.docker("h1", ["rm", "-f", CONTAINER]).catch(() => {});
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
    const body = JSON.stringify(examplePayload("ping"));
    const deliver = (secret: string, id: string) =>
      fetch(`${base}/api/github/webhooks`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "ping",
          "x-github-delivery": id,
          "x-hub-signature-256": sign(body, secret),
        },
        body,
      }).then((r) => r.status);
    expect(await deliver(SECRET, "c-1")).toBe(200);
    expect(await deliver("another secret", "c-2")).toBe(401);
    expect(await logs()).not.toContain(SECRET);
  });

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
