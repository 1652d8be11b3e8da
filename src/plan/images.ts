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
import { compileGlob } from "../util/glob.ts";
import { withImages, withPulls } from "./imagesInPlan.ts";
import type { Plan, StackPlan } from "./plan.ts";

export { changedImages, withImages } from "./imagesInPlan.ts";

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

/**
 * Per stack that deploys somewhere and builds images: where its images are built and kept, each
 * image's build (or reuse), and each deploy target's login and pulls. A stack whose images cannot
 * be placed gets one error instead.
 */
export function planImages(input: ImagePlanInput): ImagePlan {
  const ctx = imageContext(input);
  const out: ImagePlan = { builds: [], targets: [], problems: [], stackErrors: new Map() };
  for (const sp of input.plan.stacks) {
    const planned = planStackImages(ctx, sp);
    if (!planned) continue;
    if ("problem" in planned) {
      out.problems.push(planned.problem);
      out.stackErrors.set(sp.name, [...(out.stackErrors.get(sp.name) ?? []), planned.problem]);
    } else {
      out.builds.push(...planned.builds);
      out.targets.push(...planned.targets);
    }
  }
  return out;
}

/** What every stack's image planning shares, built once. */
interface ImageContext {
  input: ImagePlanInput;
  hosts: ReadonlyMap<string, HostConfig>;
  /** Recorded builds by `buildKey`. */
  recorded: ReadonlyMap<string, BuildRecord>;
  /** The builders this repository may use, by name. */
  builders: string[];
}

function imageContext(input: ImagePlanInput): ImageContext {
  const { inventory } = input;
  return {
    input,
    hosts: new Map(inventory.hosts.map((h) => [h.name, h])),
    recorded: new Map((input.builds ?? []).map((b) => [buildKey(b), b])),
    builders: inventory.hosts
      .filter((h) => h.builder && repoAllowed(h, input.repoId))
      .map((h) => h.name)
      .sort(),
  };
}

type Service = StackSnapshot["compose"]["services"][number];

/** Where a stack's images are built, and the registry that holds them (none: kept on the builder). */
interface Placement {
  builder: string;
  registry: RegistryConfig | undefined;
}

type StackImages = { builds: ImageBuild[]; targets: TargetImageOps[] } | { problem: Problem };

/** One stack's builds and target operations; undefined when it deploys nowhere or builds nothing. */
function planStackImages(ctx: ImageContext, sp: StackPlan): StackImages | undefined {
  const deployTo = sp.targets.filter((t) => t.action === "deploy").map((t) => t.host);
  const stack = ctx.input.head.stacks.get(sp.name);
  if (!stack || deployTo.length === 0) return undefined;
  const built = stack.compose.services.filter((s) => s.build);
  if (built.length === 0) return undefined;
  const placed = placeBuilds(ctx, sp.name, stack, built, deployTo);
  if ("error" in placed) return { problem: stackProblem(stack, placed.error) };
  const builds = built.map((service) => planBuild(ctx, sp.name, stack, service, placed));
  const images: Record<string, string> = Object.fromEntries(builds.map((b) => [b.service, b.image]));
  return { builds, targets: deployTo.map((host) => targetOps(ctx, sp.name, host, placed, images)) };
}

/** Where the stack's images can be built and kept, or why they cannot be (see the rules above). */
function placeBuilds(
  ctx: ImageContext,
  name: string,
  stack: StackSnapshot,
  built: readonly Service[],
  deployTo: readonly string[],
): Placement | { error: string } {
  const unsupported = built.filter((s) => !s.build?.local || s.build.inline);
  if (unsupported.length)
    return {
      error: `${name}: ${unsupported.map((s) => s.name).join(", ")} ${unsupported.length > 1 ? "build" : "builds"} from outside the repository or from dockerfile_inline; Stackpilot builds only repository contexts with a Dockerfile file`,
    };
  const environment = stack.def.environment;
  const registry = registryFor(ctx.input.inventory.registries, environment);
  const builder = pickBuilder(ctx.builders, deployTo, registry);
  if (!builder)
    return {
      error: `${name} builds ${built.map((s) => s.name).join(", ")} but no host in the hosts file is a builder for ${ctx.input.repoId} (set builder: true on one)`,
    };
  const elsewhere = deployTo.filter((h) => h !== builder);
  if (!registry && elsewhere.length > 0)
    return {
      error: `${name} is built on ${builder} but deploys to ${elsewhere.join(", ")}, and no registry is configured${environment ? ` for environment ${environment}` : ""}: the image would exist on ${builder} only. Add a registry to the hosts file, or deploy ${name} only to its builder.`,
    };
  return { builder, registry };
}

/** One service's image: reused when a build of the same inputs is recorded where it lives, else built. */
function planBuild(
  ctx: ImageContext,
  name: string,
  stack: StackSnapshot,
  service: Service,
  { builder, registry }: Placement,
): ImageBuild {
  const b = service.build as NonNullable<Service["build"]>;
  const files = buildFiles(stack, service.name);
  const fp = buildFingerprint(stack, service.name, files);
  const where = imageHome(registry?.name, builder);
  const previous = ctx.input.force
    ? undefined
    : ctx.recorded.get(buildKey({ stack: name, service: service.name, registry: where, fingerprint: fp }));
  const repository = imageRepository(registry, name, service.name);
  return {
    stack: name,
    service: service.name,
    builder,
    ...(registry ? { registry: registry.name } : {}),
    image: previous?.image ?? `${repository}:${ctx.input.head.commit}`,
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
  };
}

/** A deploy target logs in only where it has credentials, and pulls only from a registry. */
function targetOps(
  ctx: ImageContext,
  stack: string,
  host: string,
  { registry }: Placement,
  images: Record<string, string>,
): TargetImageOps {
  const config = ctx.hosts.get(host);
  return {
    stack,
    host,
    login: registry && config && credentialsOf(registry, config) ? [registry.name] : [],
    pull: registry ? Object.values(images) : [],
    images,
  };
}

/** Plans the images and attaches them to the plan: what the renderers show and the orchestrator runs. */
export function planWithImages(input: ImagePlanInput): { plan: Plan; images: ImagePlan } {
  const images = planImages(input);
  return { plan: withPulls(withImages(input.plan, images), input), images };
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
