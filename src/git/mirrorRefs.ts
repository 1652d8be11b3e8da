/** Which refs a mirror holds, and which refs a caller may ask it for. */

import { MirrorError } from "./mirrorErrors.ts";
import { FULL_SHA } from "./sha.ts";

/** Refs every fetch brings: branches, tags and pull request heads. */
export const MIRROR_REFSPECS = [
  "+refs/heads/*:refs/heads/*",
  "+refs/tags/*:refs/tags/*",
  "+refs/pull/*/head:refs/pull/*/head",
] as const;

/** Requested refs, deduplicated: ids lowercased; anything but a full id or `refs/...` name is refused. */
export function normalizeRefs(refs: readonly string[], fullName: string): string[] {
  const out = new Set<string>();
  for (const raw of refs) {
    const ref = raw.trim();
    if (FULL_SHA.test(ref.toLowerCase())) out.add(ref.toLowerCase());
    else if (isRefName(ref)) out.add(ref);
    else
      throw new MirrorError(
        "invalid",
        fullName,
        `not a full commit id or ref name (refs/...): ${JSON.stringify(ref.slice(0, 100))}`,
      );
  }
  return [...out];
}

function isRefName(ref: string): boolean {
  return (
    ref.startsWith("refs/") &&
    !ref.endsWith("/") &&
    !ref.endsWith(".lock") &&
    !ref.endsWith(".") &&
    !ref.includes("..") &&
    !ref.includes("//") &&
    !ref.includes("@{") &&
    !ref.includes("/.") &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    !/[\x00-\x20\x7f~^:?*[\\]/.test(ref)
  );
}

/** Refs every fetch brings anyway (MIRROR_REFSPECS). */
export function isCovered(ref: string): boolean {
  return /^refs\/(?:heads|tags)\/./.test(ref) || /^refs\/pull\/[^/]+\/head$/.test(ref);
}
