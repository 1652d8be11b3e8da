/** Classification and repo-relative resolution of paths written in compose files. */
import { posix } from "node:path";

/**
 * - remote: URL or git reference (Compose and BuildKit fetch these; nothing in the repo to watch)
 * - host: absolute, `~` or Windows path on the deploy host, outside the repository
 * - relative: relative to the compose file's working directory
 */
export type PathClass = "remote" | "host" | "relative";

/** The prefixes BuildKit treats as remote build contexts, plus any `scheme://` (docker-image://, oci://). */
const REMOTE = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:\/\/|git@|github\.com\/)/;
const WINDOWS = /^(?:[a-zA-Z]:[\\/]|\\\\)/;

export function classifyPath(path: string): PathClass {
  if (REMOTE.test(path)) return "remote";
  if (path.startsWith("/") || path.startsWith("~") || WINDOWS.test(path)) return "host";
  return "relative";
}

/** Short-syntax volume sources are paths only with these prefixes; anything else names a volume. */
export function isHostPathSyntax(source: string): boolean {
  return source.startsWith(".") || classifyPath(source) === "host";
}

export function isWindowsPath(path: string): boolean {
  return WINDOWS.test(path);
}

/**
 * `relative` resolved against the repo-relative directory `base`; undefined when the result would
 * lie above the repository root.
 */
export function joinRepoPath(base: string, relative: string): string | undefined {
  return normalizeRepoPath(posix.join(base, relative));
}

/** Normalized repo-relative form (`.` for the root); undefined for absolute or escaping paths. */
export function normalizeRepoPath(path: string): string | undefined {
  if (path.startsWith("/")) return undefined;
  const normalized = posix.normalize(path).replace(/(.)\/+$/, "$1");
  if (normalized === ".." || normalized.startsWith("../")) return undefined;
  return normalized;
}

export function isWithin(path: string, dir: string): boolean {
  return dir === "." || path === dir || path.startsWith(`${dir}/`);
}
