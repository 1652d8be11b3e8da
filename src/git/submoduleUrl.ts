/**
 * Where a submodule or source is fetched from: an http(s) clone URL on the configured GitHub, or
 * a reason it is refused. The installation token goes to that origin only, so a URL on any other
 * host, scheme or port is refused before anything is fetched.
 */
import { REPO_NAME } from "../config/repoConfigSchema.ts";

export type CloneTarget = { cloneUrl: string; fullName: string } | { refused: string };

/**
 * A submodule URL as git resolves it (`./x` and `../x` against the URL of the repository holding
 * it; `git@host:owner/name` and `ssh://` on the configured host read as https there), checked
 * against `origin` (`scheme://host[:port]`).
 */
export function submoduleTarget(url: string, parentUrl: string | undefined, origin: string): CloneTarget {
  const raw = url.trim();
  let absolute: string;
  if (raw.startsWith("./") || raw.startsWith("../")) {
    if (!parentUrl) return { refused: `relative URL ${raw} and no URL of the repository holding it` };
    // git treats the parent's URL as a directory: `../tools.git` next to `.../app.git`.
    absolute = new URL(raw, `${parentUrl.replace(/\/+$/, "")}/`).href;
  } else {
    const scp = /^(?:[A-Za-z0-9._-]+@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/.exec(raw);
    const ssh = /^ssh:\/\/(?:[^@/]+@)?([^/:]+)(?::\d+)?\/(.+)$/.exec(raw);
    const viaSsh = scp ?? ssh;
    if (viaSsh) {
      const [, host, path] = viaSsh as unknown as [string, string, string];
      const allowed = new URL(origin);
      if (host.toLowerCase() !== allowed.hostname.toLowerCase())
        return { refused: `URL ${raw} is not on the configured GitHub ${origin}` };
      absolute = `${allowed.origin}/${path.replace(/^\/+/, "")}`;
    } else absolute = raw;
  }
  return cloneTarget(absolute, origin);
}

/** A source's `repository`: `owner/name` on the configured GitHub, or its clone URL there. */
export function sourceTarget(repository: string, origin: string): CloneTarget {
  if (REPO_NAME.test(repository)) return cloneTarget(`${new URL(origin).origin}/${repository}.git`, origin);
  return cloneTarget(repository, origin);
}

function cloneTarget(href: string, origin: string): CloneTarget {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return { refused: `${href} is not a URL` };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    return { refused: `URL ${href} is not http(s) on the configured GitHub ${origin}` };
  if (url.username || url.password) return { refused: `URL ${redactUrl(url)} carries credentials: refused` };
  if (url.origin !== new URL(origin).origin)
    return {
      refused: `URL ${href} is on ${url.origin}, not on the configured GitHub ${new URL(origin).origin}: refused (the installation token goes there only)`,
    };
  const parts = url.pathname
    .replace(/\/+$/, "")
    .replace(/\.git$/, "")
    .split("/")
    .filter(Boolean);
  if (parts.length !== 2 || url.search || url.hash)
    return { refused: `URL ${href} does not name a repository (owner/name)` };
  const fullName = parts.join("/");
  return { cloneUrl: `${url.origin}/${fullName}.git`, fullName };
}

const redactUrl = (url: URL) => `${url.protocol}//***@${url.host}${url.pathname}`;
