/**
 * Images of stacks with `build:`: which builder builds what, which registry holds it, and which
 * image operations each deploy host runs. Pure: (plan, head snapshot, inventory, build records).
 *
 * Rules (Kamal's accessory lesson): images are built on a builder host only (a deploy host builds
 * only when it is also a builder); pull and login run only on hosts that deploy a stack using the
 * image; without a registry a build can serve only the builder itself, so a plan that would need
 * the image elsewhere fails instead of copying images between hosts.
 */
import { createHash } from "node:crypto";
import { type HostConfig, type Inventory, type RegistryConfig, repoAllowed } from "../config/hostsFile.ts";
import type { Problem } from "../config/problems.ts";
import type { ComposeRef } from "../detect/compose.ts";
import { inputsWithin } from "../detect/inputs.ts";
import type { Snapshot, StackSnapshot } from "../detect/snapshot.ts";
import { short } from "../git/range.ts";
import { compileGlob } from "../util/glob.ts";
import { asBroken } from "./broken.ts";
import { type Plan, summarize } from "./plan.ts";

/** A successful build, as recorded in the state store. */
export interface BuildRecord {
  stack: string;
  service: string;
  /** Registry name, or `local:<builder>` for an image kept on the builder. */
  registry: string;
  fingerprint: string;
  /** Full reference with tag. */
  image: string;
  commit: string;
}

export interface ImageBuild {
  stack: string;
  service: string;
  builder: string;
  /** Registry name; absent for an image built on the only host that runs it. */
  registry?: string;
  /** The image reference deploy hosts run, `<repository>:<tag>`. */
  image: string;
  /** More tags pushed with it (config `image_tags`). */
  extraTags: string[];
  fingerprint: string;
  /** Set when the build inputs are unchanged since a recorded build: nothing is built or pushed. */
  reuse?: { commit: string };
  context: string;
  dockerfile?: string;
  args: Record<string, string>;
  target?: string;
  network?: string;
  /** Repo paths uploaded to the builder: the context's files, the Dockerfile and its .dockerignore. */
  files: string[];
  /** Mounted repositories (submodules, sources) some of those files come from. */
  mounts?: { kind: "submodule" | "source"; path: string; gitDir: string; commit: string }[];
}

/** Image operations one deploy target runs before its release is switched. */
export interface TargetImageOps {
  stack: string;
  host: string;
  /** Registries to log in to (credentials go through stdin). */
  login: string[];
  /** Images to pull: the preflight proving the registry is reachable and the manifest exists. */
  pull: string[];
  /** service -> image, written into the release's compose override in place of `build:`. */
  images: Record<string, string>;
}

export interface ImagePlan {
  builds: ImageBuild[];
  targets: TargetImageOps[];
  /** Every stack's image errors; each breaks its stack (`withImages`), whose targets then skip. */
  problems: Problem[];
  /** The same errors by stack. */
  stackErrors: Map<string, Problem[]>;
}

export interface ImagePlanInput {
  plan: Plan;
  head: Snapshot;
  inventory: Inventory;
  repoId: string;
  /** Latest successful build per (stack, service, registry, fingerprint). */
  builds?: readonly BuildRecord[];
  /** Rebuild even when the build inputs are unchanged. */
  force?: boolean;
  /**
   * Snapshots of the commits deployed on the plan's targets (by commit; undefined: not in the
   * repository any more), to tell which services' images changed and must be pulled.
   */
  previous?: ReadonlyMap<string, Snapshot | undefined>;
}

export function planImages(input: ImagePlanInput): ImagePlan {
  const { inventory } = input;
  const hosts = new Map(inventory.hosts.map((h) => [h.name, h]));
  const recorded = new Map((input.builds ?? []).map((b) => [buildKey(b), b]));
  const builders = inventory.hosts
    .filter((h) => h.builder && repoAllowed(h, input.repoId))
    .map((h) => h.name)
    .sort();
  const out: ImagePlan = { builds: [], targets: [], problems: [], stackErrors: new Map() };

  for (const sp of input.plan.stacks) {
    const deployTo = sp.targets.filter((t) => t.action === "deploy").map((t) => t.host);
    const stack = input.head.stacks.get(sp.name);
    if (!stack || deployTo.length === 0) continue;
    const built = stack.compose.services.filter((s) => s.build);
    if (built.length === 0) continue;
    const problem = (message: string) => {
      const p = stackProblem(stack, message);
      out.problems.push(p);
      out.stackErrors.set(sp.name, [...(out.stackErrors.get(sp.name) ?? []), p]);
    };

    const unsupported = built.filter((s) => !s.build?.local || s.build.inline);
    if (unsupported.length) {
      problem(
        `${sp.name}: ${unsupported.map((s) => s.name).join(", ")} ${unsupported.length > 1 ? "build" : "builds"} from outside the repository or from dockerfile_inline; Stackpilot builds only repository contexts with a Dockerfile file`,
      );
      continue;
    }
    const registry = registryFor(inventory.registries, stack.def.environment);
    const builder = pickBuilder(builders, deployTo, registry);
    if (!builder) {
      problem(
        `${sp.name} builds ${built.map((s) => s.name).join(", ")} but no host in the hosts file is a builder for ${input.repoId} (set builder: true on one)`,
      );
      continue;
    }
    if (!registry && deployTo.some((h) => h !== builder)) {
      problem(
        `${sp.name} is built on ${builder} but deploys to ${deployTo.filter((h) => h !== builder).join(", ")}, and no registry is configured${stack.def.environment ? ` for environment ${stack.def.environment}` : ""}: the image would exist on ${builder} only. Add a registry to the hosts file, or deploy ${sp.name} only to its builder.`,
      );
      continue;
    }

    const images: Record<string, string> = {};
    for (const service of built) {
      const b = service.build as NonNullable<typeof service.build>;
      const files = buildFiles(stack, service.name);
      const fp = buildFingerprint(stack, service.name, files);
      const where = imageHome(registry?.name, builder);
      const previous = input.force
        ? undefined
        : recorded.get(buildKey({ stack: sp.name, service: service.name, registry: where, fingerprint: fp }));
      const repository = imageRepository(registry, sp.name, service.name);
      const image = previous?.image ?? `${repository}:${input.head.commit}`;
      images[service.name] = image;
      out.builds.push({
        stack: sp.name,
        service: service.name,
        builder,
        ...(registry ? { registry: registry.name } : {}),
        image,
        extraTags: stack.def.imageTags,
        fingerprint: fp,
        ...(previous ? { reuse: { commit: previous.commit } } : {}),
        context: b.context,
        ...(b.dockerfile ? { dockerfile: b.dockerfile } : {}),
        args: b.args ?? {},
        ...(b.target ? { target: b.target } : {}),
        ...(b.network ? { network: b.network } : {}),
        files,
        ...(stack.mounts?.length ? { mounts: stack.mounts } : {}),
      });
    }
    for (const host of deployTo) {
      const config = hosts.get(host);
      out.targets.push({
        stack: sp.name,
        host,
        login: registry && config && credentialsOf(registry, config) ? [registry.name] : [],
        pull: registry ? Object.values(images) : [],
        images,
      });
    }
  }
  return out;
}

/** Plans the images and attaches them to the plan: what the renderers show and the orchestrator runs. */
export function planWithImages(input: ImagePlanInput): { plan: Plan; images: ImagePlan } {
  const images = planImages(input);
  return { plan: withPulls(withImages(input.plan, images), input), images };
}

/**
 * Per deploy target, the services (without `build:`) whose image reference changed since the
 * commit deployed there: the deploy pulls them before `up`. A target never deployed pulls nothing
 * explicitly (`up` pulls what is missing).
 */
function withPulls(plan: Plan, input: ImagePlanInput): Plan {
  if (!input.previous?.size) return plan;
  return {
    ...plan,
    stacks: plan.stacks.map((s) => {
      const next = input.head.stacks.get(s.name);
      if (!next) return s;
      return {
        ...s,
        targets: s.targets.map((t) => {
          const commit = t.action === "deploy" ? t.deployed?.commit : undefined;
          const before = commit ? input.previous?.get(commit)?.stacks.get(s.name) : undefined;
          const pull = changedImages(next, before);
          return pull.length ? { ...t, pull } : t;
        }),
      };
    }),
  };
}

/** Services whose image reference differs from the one `previous` ran (none without `previous`). */
export function changedImages(next: StackSnapshot, previous: StackSnapshot | undefined): string[] {
  if (!previous) return [];
  const before = new Map(previous.compose.services.map((s) => [s.name, s.image]));
  return next.compose.services
    .filter((s) => s.image && !s.build && before.get(s.name) !== s.image)
    .map((s) => s.name);
}

/**
 * The plan with its image operations: builds at the top, per target what it will pull. A stack
 * whose images cannot be planned is broken (its targets skip), and the plan is not ok: the stack
 * was to deploy.
 */
export function withImages(plan: Plan, images: ImagePlan): Plan {
  if (images.builds.length === 0 && images.problems.length === 0) return plan;
  const problems = [...plan.problems, ...images.problems];
  const ops = new Map(images.targets.map((t) => [`${t.stack}\0${t.host}`, t]));
  const stacks = plan.stacks.map((s) => {
    const errors = images.stackErrors.get(s.name);
    const withOps = {
      ...s,
      targets: s.targets.map((t) => {
        const o = ops.get(`${s.name}\0${t.host}`);
        if (!o) return t;
        const list = [...o.login.map((r) => `login ${r}`), ...o.pull.map((i) => `pull ${i}`)];
        return list.length ? { ...t, imageOps: list } : t;
      }),
    };
    return errors ? asBroken(withOps, errors) : withOps;
  });
  return {
    ...plan,
    ok: plan.ok && !images.problems.some((p) => p.severity === "error"),
    problems,
    builds: images.builds.map((b) => ({
      stack: b.stack,
      service: b.service,
      builder: b.builder,
      image: b.image,
      action: b.reuse ? "reuse" : "build",
      reason: b.reuse
        ? `build inputs unchanged since ${short(b.reuse.commit)}`
        : b.registry
          ? `build on ${b.builder}, push to ${b.registry}`
          : `build on ${b.builder}, kept there (no registry)`,
    })),
    stacks,
    summary: summarize(stacks),
  };
}

/** A registry's credentials as seen from one host: its own `registry_auth`, else the registry's. */
export function credentialsOf(
  registry: RegistryConfig,
  host: HostConfig | undefined,
): { username: string; password: NonNullable<RegistryConfig["password"]> } | undefined {
  const own = host?.registry_auth[registry.name];
  if (own) return own;
  return registry.username && registry.password
    ? { username: registry.username, password: registry.password }
    : undefined;
}

/** The registry of an environment: the first listing it, else the default (no `environments`). */
export function registryFor(
  registries: readonly RegistryConfig[],
  environment: string | undefined,
): RegistryConfig | undefined {
  if (environment) {
    const listed = registries.find(
      (r) => r.environments.length > 0 && compileGlob(r.environments)(environment),
    );
    if (listed) return listed;
  }
  return registries.find((r) => r.environments.length === 0);
}

/** `<address>/<namespace>/<stack>-<service>`, or `stackpilot/<stack>-<service>` for a builder-local image. */
export function imageRepository(
  registry: RegistryConfig | undefined,
  stack: string,
  service: string,
): string {
  const name = `${refComponent(stack)}-${refComponent(service)}`;
  return registry ? `${registry.address}/${registry.namespace}/${name}` : `stackpilot/${name}`;
}

/** Image references allow lowercase letters and digits joined by single separators. */
function refComponent(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "") || "x"
  );
}

/**
 * Without a registry the image can only serve the builder itself, so the builder must be the one
 * deploy target; otherwise any builder will do (the first by name, so plans are deterministic).
 */
function pickBuilder(
  builders: readonly string[],
  deployTo: readonly string[],
  registry: RegistryConfig | undefined,
): string | undefined {
  if (!registry) return builders.find((b) => deployTo.includes(b)) ?? builders[0];
  return builders[0];
}

/** The repo files a service's build reads: its context directory, Dockerfile and `.dockerignore`. */
export function buildFiles(stack: StackSnapshot, service: string): string[] {
  const refs = stack.compose.refs.filter(
    (r: ComposeRef) => r.service === service && (r.kind === "build_context" || r.kind === "dockerfile"),
  );
  return inputsWithin(
    stack.inputs,
    refs.map((r) => r.path),
  );
}

/** sha256 over the build's files (path, mode, blob) and its settings: equal means the same image. */
export function buildFingerprint(stack: StackSnapshot, service: string, files: readonly string[]): string {
  const build = stack.compose.services.find((s) => s.name === service)?.build;
  const hash = createHash("sha256");
  hash.update("stackpilot-build-v1\n");
  for (const path of files) {
    const e = stack.inputs.files.get(path);
    hash.update(`${path}\0${e ? `${e.mode}\0${e.oid}` : "-\0-"}\n`);
  }
  const settings = {
    context: build?.context,
    dockerfile: build?.dockerfile,
    args: Object.entries(build?.args ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
    target: build?.target,
  };
  hash.update(`settings\0${JSON.stringify(settings)}\n`);
  return `sha256:${hash.digest("hex")}`;
}

/** Where a built image lives, the key its build is recorded and reused under: a registry, or the builder. */
export const imageHome = (registry: string | undefined, builder: string): string =>
  registry ?? `local:${builder}`;

const buildKey = (b: Pick<BuildRecord, "stack" | "service" | "registry" | "fingerprint">) =>
  `${b.stack}\0${b.service}\0${b.registry}\0${b.fingerprint}`;

function stackProblem(stack: StackSnapshot, message: string): Problem {
  const ref = stack.compose.refs.find((r) => r.kind === "build_context") ?? stack.compose.refs[0];
  return {
    file: ref?.from ?? stack.def.composeFiles[0] ?? stack.def.path,
    line: ref?.line ?? 1,
    col: ref?.col ?? 1,
    key: ref?.service ? `services.${ref.service}.build` : "services",
    message,
    severity: "error",
  };
}
