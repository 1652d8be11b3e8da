/**
 * A release: one stack's files at one commit in `<root>/<stack>/releases/<id>`, plus a manifest
 * saying how to run it. Rollback reads the manifest, so it needs neither the repo nor a rebuild.
 */
import { posix } from "node:path";
import { z } from "zod";
import type { ComposeFlavor, ComposeProject } from "./commands/compose.ts";

export const ReleaseManifest = z.object({
  version: z.literal(1),
  stack: z.string(),
  commit: z.string().regex(/^[0-9a-f]{40,64}$/),
  fingerprint: z.string(),
  /** Repo-relative stack directory, compose files and env files. */
  path: z.string(),
  composeFiles: z.array(z.string()).min(1),
  /** Release-relative compose files Stackpilot wrote (built images in place of `build:`), merged last. */
  overrideFiles: z.array(z.string()).optional(),
  envFiles: z.array(z.string()),
  projectName: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
  services: z.array(z.string()),
  createdAt: z.string(),
  createdBy: z.string(),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifest>;

/**
 * The release id is the commit: one commit's stack content is always the same, except where the
 * stack uses files of a source (another repository at a branch: git/mounts.ts), which can move
 * while the commit stays. Then the id adds the fingerprint, so a new source commit gets a release
 * directory of its own (replacing one under running containers would empty their bind mounts).
 */
export const releaseIdOf = (
  commit: string,
  stack?: { fingerprint: string; mounts?: readonly { kind: string }[] | undefined },
): string =>
  stack?.mounts?.some((m) => m.kind === "source")
    ? `${commit}-${stack.fingerprint.replace(/^sha256:/, "").slice(0, 12)}`
    : commit;

/** The compose project of a release directory, with every path absolute on the host. */
export function projectOf(m: ReleaseManifest, releaseDir: string, flavor: ComposeFlavor): ComposeProject {
  const abs = (p: string) => posix.join(releaseDir, p);
  return {
    flavor,
    name: m.projectName,
    directory: abs(m.path),
    files: [...m.composeFiles, ...(m.overrideFiles ?? [])].map(abs),
    envFiles: m.envFiles.map(abs),
  };
}

/** Where the images override lives in a release, and its content (JSON is YAML to both composes). */
export const IMAGES_OVERRIDE = ".stackpilot/images.compose.yaml";

export function imagesOverride(images: Readonly<Record<string, string>>): string {
  const services = Object.fromEntries(Object.entries(images).map(([name, image]) => [name, { image }]));
  return `${JSON.stringify({ services }, null, 2)}\n`;
}
