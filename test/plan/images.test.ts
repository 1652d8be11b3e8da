// The image plan: who builds, where images go, and which hosts run which image operations.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostSchema, type Inventory, RegistrySchema } from "../../src/config/hostsFile.ts";
import { dockerBuild, dockerLogin } from "../../src/deploy/commands/image.ts";
import { GitRepo } from "../../src/git/repo.ts";
import {
  buildFiles,
  buildFingerprint,
  credentialsOf,
  imageRepository,
  planImages,
  registryFor,
  withImages,
} from "../../src/plan/images.ts";
import { planRange } from "../../src/plan/planRange.ts";
import { renderMarkdown } from "../../src/plan/render/markdown.ts";
import { renderText } from "../../src/plan/render/text.ts";

let dir: string;
let repo: GitRepo;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sp-images-"));
  execFileSync("sh", ["fixtures/build-monorepo.sh", join(dir, "repo")]);
  repo = new GitRepo(join(dir, "repo"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const host = (name: string, extra: object = {}) => HostSchema.parse({ name, address: "10.0.0.1", ...extra });
const registry = (extra: object = {}) =>
  RegistrySchema.parse({ name: "main", address: "registry.test:5000", namespace: "acme", ...extra });

/** app1 builds; app1 and app2 run webapp (role app); edge runs adguardhome. */
function inventory(over: Partial<Inventory> = {}): Inventory {
  return {
    hosts: [
      host("app1", { labels: { role: "app" }, builder: true }),
      host("app2", { labels: { role: "app" } }),
      host("edge1", { labels: { role: "edge" } }),
    ],
    registries: [registry()],
    ...over,
  };
}

async function planned(inv: Inventory, opts: { base?: string; head?: string } = {}) {
  const { plan, head } = await planRange(repo, {
    base: opts.base ?? "HEAD~3",
    head: opts.head ?? "HEAD~2",
    hosts: inv.hosts.map((h) => ({ name: h.name, labels: h.labels })),
  });
  return { plan, head };
}

describe("planImages", () => {
  it("builds webapp once on the builder and has every host running it pull it; other hosts get nothing", async () => {
    const { plan, head } = await planned(inventory());
    const images = planImages({ plan, head, inventory: inventory(), repoId: "acme/infra" });
    const image = `registry.test:5000/acme/webapp-web:${head.commit}`;
    expect(images.problems).toEqual([]);
    expect(images.builds).toMatchObject([
      {
        stack: "webapp",
        service: "web",
        builder: "app1",
        registry: "main",
        image,
        context: "apps/webapp",
        dockerfile: "apps/webapp/Dockerfile",
        network: "none",
        files: ["apps/webapp/Dockerfile", "apps/webapp/index.html"],
      },
    ]);
    expect(images.targets).toEqual([
      { stack: "webapp", host: "app1", login: [], pull: [image], images: { web: image } },
      { stack: "webapp", host: "app2", login: [], pull: [image], images: { web: image } },
    ]);
    expect(images.targets.some((t) => t.host === "edge1")).toBe(false);

    const shown = withImages(plan, images);
    expect(shown.ok).toBe(true);
    const text = renderText(shown);
    expect(text).toContain(`build  webapp/web on app1 -> ${image} (build on app1, push to main)`);
    expect(text).toContain(`image: pull ${image}`);
    expect(renderMarkdown(shown)).toContain("Images (1)");
  });

  it("logs in only where the registry has credentials, with a host's own credentials first", async () => {
    const inv = inventory({
      registries: [registry({ username: "ci", password: { env: "REGISTRY_PASSWORD" } })],
    });
    inv.hosts[1] = host("app2", {
      labels: { role: "app" },
      registry_auth: { main: { username: "app2-ro", password: { file: "/etc/app2.token" } } },
    });
    const { plan, head } = await planned(inv);
    const images = planImages({ plan, head, inventory: inv, repoId: "acme/infra" });
    expect(images.targets.map((t) => [t.host, t.login])).toEqual([
      ["app1", ["main"]],
      ["app2", ["main"]],
    ]);
    const main = inv.registries[0];
    expect(main && credentialsOf(main, inv.hosts[1])?.username).toBe("app2-ro");
    expect(main && credentialsOf(main, inv.hosts[0])?.username).toBe("ci");
    expect(main && credentialsOf(registry(), inv.hosts[0])).toBeUndefined();
  });

  it("fails the plan and breaks the stack when the image would exist on the builder only (no registry, other deploy hosts)", async () => {
    const inv = inventory({ registries: [] });
    // webapp changes in HEAD~3..HEAD~2, monitoring (no build) in HEAD~2..HEAD~1.
    const { plan, head } = await planned(inv, { base: "HEAD~3", head: "HEAD~1" });
    const images = planImages({ plan, head, inventory: inv, repoId: "acme/infra" });
    expect(images.builds).toEqual([]);
    expect(images.problems).toMatchObject([
      {
        file: "stacks/webapp/compose.yaml",
        line: 4,
        key: "services.web.build",
        severity: "error",
        message:
          "webapp is built on app1 but deploys to app2, and no registry is configured for environment production: the image would exist on app1 only. Add a registry to the hosts file, or deploy webapp only to its builder.",
      },
    ]);
    const shown = withImages(plan, images);
    expect(shown.ok).toBe(false);
    expect(shown.deployable).toBe(true);
    const webapp = shown.stacks.find((s) => s.name === "webapp");
    expect(webapp?.broken).toEqual(images.problems);
    const why = `broken: stacks/webapp/compose.yaml:4:16 ${images.problems[0]?.message}`;
    expect(webapp?.targets.map((t) => [t.host, t.action, t.reasons])).toEqual([
      ["app1", "skip", [why]],
      ["app2", "skip", [why]],
    ]);
    // The other stacks still deploy.
    expect(shown.stacks.find((s) => s.name === "monitoring")?.targets.map((t) => t.action)).toEqual([
      "deploy",
      "deploy",
      "deploy",
    ]);
    expect(shown.summary).toMatchObject({ broken: 1, deploy: plan.summary.deploy - 2 });
  });

  it("keeps the image on a builder that is the stack's only host, with no pull and no registry", async () => {
    const inv = inventory({
      registries: [],
      hosts: [
        host("app1", { labels: { role: "app" }, builder: true }),
        host("edge1", { labels: { role: "edge" } }),
      ],
    });
    const { plan, head } = await planned(inv);
    const images = planImages({ plan, head, inventory: inv, repoId: "acme/infra" });
    expect(images.problems).toEqual([]);
    expect(images.builds.map((b) => [b.builder, b.registry, b.image])).toEqual([
      ["app1", undefined, `stackpilot/webapp-web:${head.commit}`],
    ]);
    expect(images.targets).toMatchObject([{ host: "app1", login: [], pull: [] }]);
  });

  it("refuses to plan builds with no builder, or with a builder that does not accept the repository", async () => {
    for (const app1 of [
      host("app1", { labels: { role: "app" } }),
      host("app1", { labels: { role: "app" }, builder: true, repos: ["other/*"] }),
    ]) {
      const inv = inventory({ hosts: [app1, host("app2", { labels: { role: "app" } })] });
      const { plan, head } = await planned(inv);
      const images = planImages({ plan, head, inventory: inv, repoId: "acme/infra" });
      expect(images.problems.map((p) => p.message)).toEqual([
        "webapp builds web but no host in the hosts file is a builder for acme/infra (set builder: true on one)",
      ]);
    }
  });

  it("reuses the recorded image while the build inputs are unchanged, and rebuilds when forced", async () => {
    const inv = inventory();
    // HEAD~1 -> HEAD changes authelia and shared files only: webapp's build inputs are as at HEAD~2.
    const first = await planned(inv, { base: "HEAD~3", head: "HEAD~2" });
    const built = planImages({ plan: first.plan, head: first.head, inventory: inv, repoId: "acme/infra" })
      .builds[0];
    if (!built) throw new Error("no build planned");
    const record = {
      stack: "webapp",
      service: "web",
      registry: "main",
      fingerprint: built.fingerprint,
      image: built.image,
      commit: first.head.commit,
    };
    const later = await planRange(repo, {
      base: "HEAD~1",
      head: "HEAD",
      hosts: inv.hosts.map((h) => ({ name: h.name, labels: h.labels })),
      force: true,
    });
    const reused = planImages({
      plan: later.plan,
      head: later.head,
      inventory: inv,
      repoId: "acme/infra",
      builds: [record],
    });
    expect(reused.builds.map((b) => [b.reuse?.commit, b.image])).toEqual([[first.head.commit, built.image]]);
    expect(withImages(later.plan, reused).builds?.[0]).toMatchObject({
      action: "reuse",
      reason: `build inputs unchanged since ${first.head.commit.slice(0, 7)}`,
    });
    const forced = planImages({
      plan: later.plan,
      head: later.head,
      inventory: inv,
      repoId: "acme/infra",
      builds: [record],
      force: true,
    });
    expect(forced.builds.map((b) => [b.reuse, b.image])).toEqual([
      [undefined, `registry.test:5000/acme/webapp-web:${later.head.commit}`],
    ]);
  });

  it("fingerprints the build's files and settings, not the rest of the stack", async () => {
    const { head: v1 } = await planned(inventory(), { base: "HEAD~4", head: "HEAD~3" });
    const { head: v2 } = await planned(inventory(), { base: "HEAD~3", head: "HEAD~2" });
    const { head: v3 } = await planned(inventory(), { base: "HEAD~1", head: "HEAD" });
    const fp = (s: typeof v1) => {
      const stack = s.stacks.get("webapp");
      if (!stack) throw new Error("no webapp");
      return buildFingerprint(stack, "web", buildFiles(stack, "web"));
    };
    expect(fp(v1)).not.toBe(fp(v2)); // index.html changed in HEAD~2
    expect(fp(v2)).toBe(fp(v3));
  });
});

describe("registries and names", () => {
  it("picks an environment's registry by glob, else the default", () => {
    const regs = [registry({ name: "default" }), registry({ name: "prod", environments: ["prod*"] })];
    expect(registryFor(regs, "production")?.name).toBe("prod");
    expect(registryFor(regs, "staging")?.name).toBe("default");
    expect(registryFor(regs, undefined)?.name).toBe("default");
    expect(registryFor([registry({ environments: ["prod"] })], "staging")).toBeUndefined();
  });

  it("makes valid lowercase image references from any stack and service name", () => {
    expect(imageRepository(registry(), "Web.App", "API__v2")).toBe("registry.test:5000/acme/web-app-api-v2");
    expect(imageRepository(undefined, "web", "api")).toBe("stackpilot/web-api");
  });
});

describe("image commands", () => {
  it("logs in with the password on stdin only, and builds with every tag and setting as its own argument", () => {
    expect(dockerLogin("registry.test:5000", "ci")).toEqual([
      "docker",
      "login",
      "--username",
      "ci",
      "--password-stdin",
      "registry.test:5000",
    ]);
    expect(
      dockerBuild({
        tags: ["r/a:1", "r/a:latest"],
        context: "/srv/.builds/x/apps/web",
        dockerfile: "/srv/.builds/x/apps/web/Dockerfile",
        args: { B: "2; rm -rf /", A: "1" },
        target: "prod",
        network: "none",
      }),
    ).toEqual([
      "docker",
      "build",
      "--quiet",
      "--tag",
      "r/a:1",
      "--tag",
      "r/a:latest",
      "--file",
      "/srv/.builds/x/apps/web/Dockerfile",
      "--build-arg",
      "A=1",
      "--build-arg",
      "B=2; rm -rf /",
      "--target",
      "prod",
      "--network",
      "none",
      "/srv/.builds/x/apps/web",
    ]);
  });
});
