/**
 * A release's upload in one round trip (commands/release.ts `uploadRelease`): the manifest (and
 * the images override) then the tar of the stack's files stream into a staging dir, which is
 * published as the release; `current` is switched to it in the same round trip unless hooks must
 * run between the two (hostDeploy.ts).
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { releaseArchives } from "./archiveCache.ts";
import type { StackPaths } from "./commands/paths.ts";
import { manifestPath, removeTree, stagingDir, uploadRelease } from "./commands/release.ts";
import type { DeployRequest, Step } from "./hostDeploy.ts";
import type { HeldLock } from "./hostLock.ts";
import { IMAGES_OVERRIDE, imagesOverride, type ReleaseManifest } from "./release.ts";
import { metaName } from "./releasePreflight.ts";
import type { Runner } from "./runner.ts";
import { archiveFiles, type TarStream } from "./upload.ts";

/** Uploads (and with `switch`, activates) the release; returns the bytes of the tar sent. */
export async function uploadReleaseTo(
  runner: Runner,
  req: DeployRequest,
  at: { paths: StackPaths; release: string; manifest: ReleaseManifest; lock: HeldLock; step: Step },
  opts: { switch: boolean },
): Promise<number> {
  const { paths, release, manifest, lock, step } = at;
  const host = req.host.name;
  const staging = stagingDir(paths, release, randomBytes(4).toString("hex"));
  const files = [...req.stack.inputs.files].filter(([, e]) => e !== null).map(([p]) => p);
  const meta: [path: string, content: Buffer][] = [
    [manifestPath(""), Buffer.from(JSON.stringify(manifest, null, 2))],
  ];
  if (manifest.overrideFiles && req.images)
    meta.push([IMAGES_OVERRIDE, Buffer.from(imagesOverride(req.images))]);
  const argv = uploadRelease(
    paths,
    staging,
    release,
    meta.map(([path, content]) => ({ name: metaName(path), bytes: content.length })),
    { fence: { nonce: lock.nonce }, switch: opts.switch },
  );
  // The same archive for every host deploying this commit: one `git archive` for all of them
  // (archiveCache.ts); one too big to keep in memory streams from its own `git archive`.
  const shared = releaseArchives.get(req.repoDir, req.commit, files, req.stack.mounts);
  let streamed: TarStream | undefined;
  let bytes = 0;
  try {
    const stdin = Readable.from(
      (async function* () {
        const whole = await shared;
        if (whole) {
          bytes = whole.length;
          // Small: one chunk, one SSH data packet.
          yield Buffer.concat([...meta.map(([, content]) => content), whole]);
        } else {
          for (const [, content] of meta) yield content;
          streamed = archiveFiles(req.repoDir, req.commit, files, { mounts: req.stack.mounts });
          yield* streamed.stream;
        }
      })(),
    );
    const uploaded = await step(argv, { stdin }).then(
      () => undefined,
      (err: unknown) => ({ err }),
    );
    const archiveFailed = await (streamed?.done ?? shared).then(
      () => undefined,
      (err: unknown) => ({ err }),
    );
    // The host checked the gzip stream's length and CRC before publishing: when the script
    // succeeded, the release is complete (and `current` names it), whatever git said after.
    if (uploaded) throw (archiveFailed ?? uploaded).err;
    return streamed ? streamed.bytes() : bytes;
  } catch (err) {
    await runner.run(host, removeTree(staging), { allowFailure: true }).catch(() => {});
    throw err;
  }
}
