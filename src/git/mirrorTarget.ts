/**
 * Where a repository's mirror lives and where it is fetched from, checked before anything touches
 * the network: the clone URL must be http(s) on the one allowed origin (the configured GitHub),
 * without credentials, and the name must be a plain `owner/name`, since both become a path.
 */
import { join } from "node:path";
import { MirrorError } from "./mirrorErrors.ts";

export interface MirrorSource {
  /** `repository.clone_url` of the webhook payload (so GitHub Enterprise works); no credentials in it. */
  cloneUrl: string;
  /** `owner/name`. */
  fullName: string;
  /** `repository.default_branch`: where the mirror's HEAD points. Without it HEAD is guessed. */
  defaultBranch?: string;
}

export interface Target {
  source: MirrorSource;
  fullName: string;
  cloneUrl: string;
  /** `scheme://host[:port]/`, the scope of the auth header. */
  origin: string;
  /** `<root>/<host>[_<port>]/<owner>/<name>.git`, lowercase. */
  dir: string;
}

/** `scheme://host[:port]` of an origin given as a URL (`https://ghe.example.com`, with or without a path). */
export function originOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
    throw new Error(`the allowed git origin must be http(s), not ${parsed.protocol}`);
  return parsed.origin;
}

/** Throws MirrorError "invalid" for anything that must not be fetched or used as a path. */
export function targetOf(root: string, source: MirrorSource, allowedOrigin: string): Target {
  const fullName = source.fullName;
  const parts = fullName.split("/");
  if (
    parts.length !== 2 ||
    parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p) || p === "." || p === ".." || p.endsWith(".lock"))
  )
    throw new MirrorError("invalid", fullName, `not a repository name: ${JSON.stringify(fullName)}`);
  let url: URL;
  try {
    url = new URL(source.cloneUrl);
  } catch {
    throw new MirrorError("invalid", fullName, `clone URL of ${fullName} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new MirrorError(
      "invalid",
      fullName,
      `clone URL of ${fullName} must be http(s), not ${url.protocol}`,
    );
  if (url.username || url.password)
    throw new MirrorError(
      "invalid",
      fullName,
      `clone URL of ${fullName} must not carry credentials: pass the token as opts.token`,
    );
  // The token goes wherever the clone URL points: only to the GitHub this server is configured for.
  if (url.origin !== allowedOrigin)
    throw new MirrorError(
      "invalid",
      fullName,
      `clone URL of ${fullName} is on ${url.origin}, not on the configured GitHub ${allowedOrigin}: refused (set GHE_HOST and GHE_PROTOCOL for GitHub Enterprise)`,
    );
  const host = `${url.hostname}${url.port ? `_${url.port}` : ""}`.toLowerCase().replace(/[^a-z0-9._-]/g, "_");
  const [owner, name] = parts.map((p) => p.toLowerCase()) as [string, string];
  return {
    source,
    fullName,
    cloneUrl: url.href,
    origin: `${url.origin}/`,
    dir: join(root, host, owner, `${name}.git`),
  };
}
