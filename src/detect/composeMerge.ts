/**
 * How Compose combines service definitions: a later one over an earlier one (`-f a -f b`, included
 * override files) and a service over the bases it `extends`, field by field for the parts
 * Stackpilot keeps.
 */
import type { ComposeFileInfo, ComposeService } from "./compose.ts";

/** The service named `name` in a parsed file (the first, as a lookup by name finds it); indexed once per file. */
const serviceIndex = new WeakMap<ComposeFileInfo, Map<string, ComposeService>>();
export function serviceIn(info: ComposeFileInfo, name: string): ComposeService | undefined {
  let byName = serviceIndex.get(info);
  if (!byName) {
    byName = new Map();
    for (const s of info.services) if (!byName.has(s.name)) byName.set(s.name, s);
    serviceIndex.set(info, byName);
  }
  return byName.get(name);
}

/** The key of a service of a file, as an `extends` names it. */
export function serviceKey(file: string, service: string): string {
  return `${file}\u0000#${service}`;
}

/** `web (stacks/a/compose.yaml)` for a service key. */
export function serviceLabel(key: string): string {
  const [file, service] = key.split("\u0000#");
  return `${service} (${file})`;
}

/**
 * Fills what a service leaves out from the services it extends, nearest first (each wins nothing
 * it sets itself), looking bases up in `byFile` (the first parse of each file). A loop over the
 * chain, with every base resolved once (`resolved`, by service key): a chain of thousands of
 * services is linear, not cubic, and cannot overflow the stack. A chain that runs into a cycle (an
 * error reported while the extends were followed) stops where it repeats and is not kept.
 */
export function resolveExtends(
  service: ComposeService,
  byFile: ReadonlyMap<string, ComposeFileInfo>,
  resolved: Map<string, ComposeService>,
): ComposeService {
  const chain: { key: string; service: ComposeService }[] = [];
  const seen = new Set<string>();
  let tail: ComposeService | undefined;
  let cyclic = false;
  for (let at = service; at.extends; ) {
    const key = serviceKey(at.extends.file, at.extends.service);
    if (seen.has(key)) {
      cyclic = true;
      break;
    }
    seen.add(key);
    tail = resolved.get(key);
    if (tail) break;
    const info = byFile.get(at.extends.file);
    const found = info && serviceIn(info, at.extends.service);
    if (!found) break;
    chain.push({ key, service: found });
    at = found;
  }
  let acc = tail;
  if (acc === undefined) {
    // The farthest base extends nothing that can be followed: it is resolved as it is.
    const last = chain.pop();
    if (!last) return service;
    acc = last.service;
    if (!cyclic) resolved.set(last.key, acc);
  }
  for (let i = chain.length - 1; i >= 0; i--) {
    const link = chain[i] as { key: string; service: ComposeService };
    acc = mergeService(acc, link.service);
    if (!cyclic) resolved.set(link.key, acc);
  }
  return mergeService(acc, service);
}

/**
 * `over` on top of `base`, field by field, like Compose's merge of the parts Stackpilot keeps. A later
 * healthcheck cannot switch off an earlier one here: the boolean does not say whether it was written.
 */
export function mergeService(base: ComposeService, over: ComposeService): ComposeService {
  const merged: ComposeService = { name: over.name, healthcheck: base.healthcheck || over.healthcheck };
  const image = over.image ?? base.image;
  const build = mergeBuild(base.build, over.build);
  const extendsRef = over.extends ?? base.extends;
  if (image !== undefined) merged.image = image;
  if (build !== undefined) merged.build = build;
  if (extendsRef !== undefined) merged.extends = extendsRef;
  return merged;
}

function mergeBuild(base: ComposeService["build"], over: ComposeService["build"]): ComposeService["build"] {
  if (!base || !over) return over ?? base;
  const merged: NonNullable<ComposeService["build"]> = { context: over.context, local: over.local };
  const dockerfile = over.dockerfile ?? base.dockerfile;
  const target = over.target ?? base.target;
  const network = over.network ?? base.network;
  if (dockerfile !== undefined) merged.dockerfile = dockerfile;
  if (base.args || over.args) merged.args = { ...base.args, ...over.args };
  if (target !== undefined) merged.target = target;
  if (network !== undefined) merged.network = network;
  if (over.inline || base.inline) merged.inline = true;
  return merged;
}
