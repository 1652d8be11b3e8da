/**
 * Symlinks of a commit's tree, resolved as the kernel resolves them on a host that holds a release:
 * a release is the repository's paths under one directory, so a link may point anywhere inside the
 * repository and nowhere else. A link's target is its blob's content. Pure.
 */
import { MODE_SYMLINK, type Tree } from "../git/repo.ts";

/** The kernel's limit on links followed in one path lookup (Linux: ELOOP after 40). */
export const MAX_LINKS = 40;

/** A link's target, by blob id: undefined while that blob has not been read. */
export type LinkTargets = (oid: string) => string | undefined;

export type Resolution =
  /** `path` is where the lookup ends (it may be absent); `links` are the links followed, in order. */
  | { kind: "resolved"; path: string; links: string[] }
  /** The target of a link on the way is not read yet. */
  | { kind: "pending"; oid: string }
  /** A link on the way leaves the repository, or the links form a cycle; `message` says which. */
  | { kind: "refused"; link: string; message: string; links: string[] };

export const isSymlink = (tree: Tree, path: string): boolean => tree.get(path)?.mode === MODE_SYMLINK;

/**
 * Where the repo-relative `path` leads: every component that is a link is replaced by its target
 * (relative to the link's directory), and `..` after a link climbs from where the link led, as
 * the kernel does. A target that is absolute or climbs above the repository is refused.
 */
export function resolvePath(tree: Tree, path: string, targets: LinkTargets): Resolution {
  const done: string[] = [];
  let todo = components(path);
  const links: string[] = [];
  let lastTarget = "";
  while (todo.length > 0) {
    const name = todo.shift() as string;
    if (name === "..") {
      // Written paths are normalised before they get here, so only a link's target climbs.
      if (done.length === 0) {
        const link = links.at(-1);
        return link === undefined
          ? { kind: "refused", link: path, message: `${path} is outside the repository`, links }
          : refused(link, lastTarget, links);
      }
      done.pop();
      continue;
    }
    const here = done.length === 0 ? name : `${done.join("/")}/${name}`;
    const entry = tree.get(here);
    if (entry?.mode !== MODE_SYMLINK) {
      done.push(name);
      continue;
    }
    const target = targets(entry.oid);
    if (target === undefined) return { kind: "pending", oid: entry.oid };
    links.push(here);
    if (links.length > MAX_LINKS) {
      const cycle = new Set(links).size < links.length;
      const message = cycle
        ? `${here} is a symlink in a cycle of symlinks`
        : `${path} goes through more than ${MAX_LINKS} symlinks`;
      return { kind: "refused", link: here, message, links };
    }
    if (target === "" || target.startsWith("/")) return refused(here, target || "an empty path", links);
    lastTarget = target;
    todo = [...components(target), ...todo];
  }
  return { kind: "resolved", path: done.length === 0 ? "." : done.join("/"), links };
}

function refused(link: string, target: string, links: string[]): Resolution {
  return {
    kind: "refused",
    link,
    message: `${link} is a symlink to ${target} (outside the repository)`,
    links,
  };
}

function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}
