/**
 * Image builds on a builder host, and the image preflight of deploy hosts. The builder gets only
 * the build's files (a tar of them, like a release), builds, tags and pushes; deploy hosts log in
 * and pull before anything of theirs is switched, so a registry they cannot reach fails them early.
 */
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import type { ImageBuild } from "../plan/images.ts";
import { stepTimer } from "../util/timings.ts";
import { dockerBuild, dockerLogin, dockerPull, dockerPush } from "./commands/image.ts";
import { makeDir, removeTree, untar } from "./commands/release.ts";
import { RemoteCommandError, type Runner } from "./runner.ts";
import { archiveFiles } from "./upload.ts";

/** A registry login with its password already read (it goes to stdin only). */
export interface Login {
  registry: string;
  address: string;
  username: string;
  password: string;
}

export interface BuildRequest {
  repoDir: string;
  commit: string;
  build: ImageBuild;
  /** The builder's deploy root: the build directory is `<root>/.builds/<nonce>`. */
  root: string;
  /** Push to the registry after building (absent for a builder-local image). */
  push?: { login?: Login };
}

export interface BuildResult {
  uploadBytes: number;
  timings: Record<string, number>;
}

/** Fails with the step that failed, so the summary says whether it was the build or the push. */
export class ImageStepError extends Error {
  override name = "ImageStepError";
}

export async function buildImage(runner: Runner, req: BuildRequest): Promise<BuildResult> {
  const { build } = req;
  const host = build.builder;
  const { timings, time } = stepTimer();
  const repository = build.image.slice(0, build.image.lastIndexOf(":"));
  const tags = [build.image, ...build.extraTags.map((t) => `${repository}:${t}`)];
  const dir = posix.join(
    req.root,
    ".builds",
    `${build.stack}-${build.service}-${randomBytes(4).toString("hex")}`,
  );

  if (req.push?.login)
    await step(`login to ${req.push.login.registry}`, () => login(runner, host, req.push?.login as Login));
  await runner.run(host, makeDir(dir));
  try {
    const tar = archiveFiles(req.repoDir, req.commit, build.files, { mounts: build.mounts });
    await time("upload", async () => {
      const [untarred] = await Promise.allSettled([
        runner.run(host, untar(dir), { stdin: tar.stream }),
        tar.done,
      ]);
      await tar.done;
      if (untarred.status === "rejected") throw untarred.reason;
    });
    await time("build", () =>
      step("build", () =>
        runner.run(
          host,
          dockerBuild({
            tags,
            context: posix.join(dir, build.context),
            ...(build.dockerfile ? { dockerfile: posix.join(dir, build.dockerfile) } : {}),
            args: build.args,
            ...(build.target ? { target: build.target } : {}),
            ...(build.network ? { network: build.network } : {}),
          }),
        ),
      ),
    );
    if (req.push) {
      await time("push", async () => {
        for (const tag of tags) await step(`push of ${tag}`, () => runner.run(host, dockerPush(tag)));
      });
    }
    return { uploadBytes: tar.bytes(), timings };
  } finally {
    await runner.run(host, removeTree(dir), { allowFailure: true }).catch(() => {});
  }
}

/**
 * On a deploy host, before its release changes: log in (when the registry needs it) and pull every
 * image the stack runs. A failure says which registry and why; nothing has been switched yet.
 */
export async function imagePreflight(
  runner: Runner,
  host: string,
  logins: readonly Login[],
  images: readonly string[],
): Promise<void> {
  for (const l of logins)
    await step(`preflight: login to ${l.registry} (${l.address})`, () => login(runner, host, l));
  for (const image of images) {
    await step(`preflight: pull of ${image}`, () => runner.run(host, dockerPull(image)));
  }
}

function login(runner: Runner, host: string, l: Login) {
  return runner.run(host, dockerLogin(l.address, l.username), { stdin: `${l.password}\n` });
}

/** One line naming the step and its cause (the command and its whole output are in the log). */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const detail =
      err instanceof RemoteCommandError
        ? (err.record.stderr || err.record.stdout).trim().split("\n").at(-1) || `exit ${err.record.code}`
        : err instanceof Error
          ? err.message
          : String(err);
    throw new ImageStepError(`${what} failed: ${detail}`);
  }
}
