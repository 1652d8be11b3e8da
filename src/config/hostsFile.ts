/**
 * The hosts file (server side, never from a repository): where hosts are and how to reach them.
 * Secrets are referenced (a key file path or an env var name), never written here.
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { z } from "zod";
import type { HostRef } from "../plan/plan.ts";
import { compileGlob } from "../util/glob.ts";
import { type NotificationChannel, NotificationSchema, nameChannels } from "./notifications.ts";
import { type Problem, ProblemsError } from "./problems.ts";
import { SAFE_NAME, validGlob } from "./repoConfigSchema.ts";
import { SecretRef } from "./secretRef.ts";
import { type TriggerConfig, TriggerSchema } from "./triggers.ts";
import { knownKeysOf, parseYamlSource, validateYaml } from "./yamlSource.ts";

/** Repository path components of an image reference (the distribution spec's grammar, lowercase). */
const IMAGE_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

const RegistryAuth = z.strictObject({ username: z.string().min(1), password: SecretRef });

const Fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, "expected SHA256:<base64> as printed by ssh-keygen -lf");
const KnownHostsLine = z
  .string()
  .regex(
    /^(?:\S+ )?(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-\S+) [A-Za-z0-9+/=]+/,
    "expected a known_hosts line: [host] <keytype> <base64>",
  );

const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * An IP address, or a DNS name of RFC 1123 labels whose last label is not all digits (that is a
 * mistyped IP address). Anything else (`-oProxyCommand=...`, `::::`) never reaches ssh or DNS.
 */
export function isHostAddress(address: string): boolean {
  if (isIP(address) !== 0) return true;
  const labels = address.split(".");
  return (
    address.length <= 253 && labels.every((l) => DNS_LABEL.test(l)) && !/^[0-9]+$/.test(labels.at(-1) ?? "")
  );
}

export const HostSchema = z.strictObject({
  /** Name used in repo configs and commands. */
  name: z.string().regex(SAFE_NAME, 'host names may contain only letters, digits, ".", "_" and "-"').max(100),
  /** DNS name or IP address. */
  address: z
    .string()
    .refine(
      isHostAddress,
      "address must be a DNS name (labels of letters, digits and hyphens, no hyphen at either end) or an IP address",
    ),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*\$?$/i, "not a valid user name")
    .default("deploy"),
  labels: z.record(z.string().regex(SAFE_NAME), z.string()).default({}),
  /** Private key: a file path, or the name of an env var holding the key. */
  key: SecretRef.optional(),
  /** The pinned host key: a known_hosts line or a SHA256 fingerprint. */
  host_key: z.union([Fingerprint, KnownHostsLine]).optional(),
  /** Accept and pin an unknown host key on first connection (off unless set). */
  trust_on_first_use: z.boolean().default(false),
  /** A host (by name, from this file) to jump through. */
  jump: z.string().regex(SAFE_NAME).optional(),
  /** `auto`: `docker compose` (v2) when its plugin is installed, else `docker-compose` (v1). */
  compose: z.enum(["auto", "docker compose", "docker-compose"]).default("auto"),
  /** Where stacks live on the host: <root>/<stack>/releases/<sha>, <root>/<stack>/current. */
  root: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]*$/, "root must be an absolute path of plain characters")
    .default("/srv/stackpilot"),
  /** Repositories (owner/name globs) allowed to deploy here; empty means any. */
  repos: z.array(z.string().superRefine(validGlob)).default([]),
  /**
   * Environments (globs) allowed to deploy here; empty means any. The last word: a repository's
   * rules can never send an environment to a host that does not list it.
   */
  environments: z.array(z.string().min(1).superRefine(validGlob)).default([]),
  /** Absolute host paths compose files may bind-mount (others are refused). */
  allowed_mount_roots: z.array(z.string().regex(/^\//)).default([]),
  /** Builds the images of stacks with `build:` (a deploy host builds only when it is also a builder). */
  builder: z.boolean().default(false),
  /** Per-registry credentials this host pulls with, instead of the registry's (e.g. a read-only token per host). */
  registry_auth: z.record(z.string().regex(SAFE_NAME), RegistryAuth).default({}),
});
export type HostConfig = z.output<typeof HostSchema>;

export const RegistrySchema = z.strictObject({
  /** Referenced by hosts' `registry_auth`. */
  name: z.string().regex(SAFE_NAME).max(100),
  /** `host[:port]`, as in image references. */
  address: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$/i, "address must be host or host:port"),
  /** Path under the registry: images are <address>/<namespace>/<stack>-<service>:<commit>. */
  namespace: z
    .string()
    .regex(IMAGE_PATH, "namespace must be lowercase path components ([a-z0-9] with . _ - inside, / between)")
    .default("stackpilot"),
  /** Credentials: the builder pushes with them; deploy hosts pull with them unless `registry_auth` says otherwise. */
  username: z.string().min(1).optional(),
  password: SecretRef.optional(),
  /** Environments (globs) whose images go here; a registry without the list is the default. */
  environments: z.array(z.string().min(1).superRefine(validGlob)).default([]),
});
export type RegistryConfig = z.output<typeof RegistrySchema>;

export const HostsFileSchema = z.strictObject({
  hosts: z.array(HostSchema).default([]),
  /** Image registries builders push to and deploy hosts pull from. */
  registries: z.array(RegistrySchema).default([]),
  /** Endpoints that run a repository's procedure (`POST /triggers/<name>`, config/triggers.ts). */
  triggers: z.array(TriggerSchema).default([]),
  /** Where failures, drift and heals are told (config/notifications.ts). */
  notifications: z.array(NotificationSchema).default([]),
});

/** Everything the hosts file describes. */
export interface Inventory {
  hosts: HostConfig[];
  registries: RegistryConfig[];
  triggers?: TriggerConfig[];
  /** Notification channels (the App sends; absent: none). */
  notifications?: NotificationChannel[];
}
export type HostsFile = z.output<typeof HostsFileSchema>;

export function parseHostsFile(text: string, file: string): Inventory & { problems: Problem[] } {
  const src = parseYamlSource(file, text);
  if (src.value === undefined) return { hosts: [], registries: [], problems: src.problems };
  const { data, problems } = validateYaml(src, HostsFileSchema, (p) => knownKeysOf(HostsFileSchema, p));
  const all = [...src.problems, ...problems];
  if (!data) return { hosts: [], registries: [], problems: all };
  const report: Report = (at, key, message, severity = "error") =>
    all.push({ file, ...src.positionOf(at), key, message, severity });
  checkRegistries(data, report);
  checkHosts(data, report);
  checkTriggers(data, report);
  const { channels, duplicates } = nameChannels(data.notifications);
  for (const { index, name } of duplicates)
    report(
      ["notifications", index, "name"],
      `notifications[${index}].name`,
      `duplicate notification channel "${name}"`,
    );
  return {
    hosts: data.hosts,
    registries: data.registries,
    triggers: data.triggers,
    notifications: channels,
    problems: all,
  };
}

/** A problem at a YAML path (`at`) of the hosts file, named by its key path. */
type Report = (at: (string | number)[], key: string, message: string, severity?: Problem["severity"]) => void;

/** Registry names unique, credentials whole, at most one default registry, every host's auth known. */
function checkRegistries(data: HostsFile, report: Report): void {
  const registries = new Set<string>();
  let defaults = 0;
  data.registries.forEach((r, i) => {
    if (registries.has(r.name))
      report(["registries", i, "name"], `registries[${i}].name`, `duplicate registry "${r.name}"`);
    registries.add(r.name);
    if (r.username && !r.password)
      report(["registries", i], `registries[${i}]`, `registry "${r.name}" has a username but no password`);
    if (r.environments.length === 0 && ++defaults > 1)
      report(
        ["registries", i],
        `registries[${i}].environments`,
        `registry "${r.name}" is a second default (no environments): give all but one an environments list`,
      );
  });
  data.hosts.forEach((h, i) => {
    for (const name of Object.keys(h.registry_auth)) {
      if (!registries.has(name))
        report(
          ["hosts", i, "registry_auth", name],
          `hosts[${i}].registry_auth.${name}`,
          `unknown registry "${name}"`,
        );
    }
  });
}

/** Host names unique, a host key pinned (or TOFU said aloud), jump hosts known and loop-free. */
function checkHosts(data: HostsFile, report: Report): void {
  const seen = new Set<string>();
  data.hosts.forEach((h, i) => {
    if (seen.has(h.name)) report(["hosts", i, "name"], `hosts[${i}].name`, `duplicate host "${h.name}"`);
    seen.add(h.name);
    if (!h.host_key && !h.trust_on_first_use)
      report(
        ["hosts", i, "name"],
        `hosts[${i}]`,
        `host "${h.name}" has no host_key; pin one or set trust_on_first_use: true`,
        "warning",
      );
  });
  data.hosts.forEach((h, i) => {
    if (h.jump && !seen.has(h.jump))
      report(["hosts", i, "jump"], `hosts[${i}].jump`, `unknown jump host "${h.jump}"`);
  });
  for (const { index, message } of jumpLoops(data.hosts))
    report(["hosts", index, "jump"], `hosts[${index}].jump`, message);
}

function checkTriggers(data: HostsFile, report: Report): void {
  const triggers = new Set<string>();
  data.triggers.forEach((t, i) => {
    if (triggers.has(t.name))
      report(["triggers", i, "name"], `triggers[${i}].name`, `duplicate trigger "${t.name}"`);
    triggers.add(t.name);
  });
}

/**
 * Hosts whose jump chain never reaches a host without `jump`: each loop once, at the first of
 * its hosts in the file (`a -> b -> a`), and each host leading into one.
 */
function jumpLoops(hosts: readonly HostConfig[]): { index: number; message: string }[] {
  const byName = new Map(hosts.map((h, i) => [h.name, i]));
  const out: { index: number; message: string }[] = [];
  hosts.forEach((h, i) => {
    const chain = [i];
    for (
      let next = byName.get(h.jump ?? "");
      next !== undefined;
      next = byName.get(hosts[next]?.jump ?? "")
    ) {
      const at = chain.indexOf(next);
      if (at < 0) {
        chain.push(next);
        continue;
      }
      const loop = chain.slice(at);
      const names = (ids: number[]) => ids.map((j) => hosts[j]?.name).join(" -> ");
      if (at > 0)
        out.push({
          index: i,
          message: `host "${h.name}" jumps into a jump host loop: ${names([...chain, next])}`,
        });
      else if (Math.min(...loop) === i)
        out.push({ index: i, message: `jump host loop: ${names([...loop, i])}` });
      return;
    }
  });
  return out;
}

/** Read and validate; throws ProblemsError on errors. */
export async function loadInventory(file: string): Promise<Inventory> {
  const { hosts, registries, triggers, notifications, problems } = parseHostsFile(
    await readFile(file, "utf8"),
    file,
  );
  if (problems.some((p) => p.severity === "error")) throw new ProblemsError(problems);
  return { hosts, registries, triggers: triggers ?? [], ...(notifications?.length ? { notifications } : {}) };
}

/** The hosts alone (commands that never touch images). */
export async function loadHostsFile(file: string): Promise<HostConfig[]> {
  return (await loadInventory(file)).hosts;
}

export const hostRefs = (hosts: readonly HostConfig[]): HostRef[] =>
  hosts.map((h) => ({
    name: h.name,
    labels: h.labels,
    environments: h.environments,
    repos: h.repos,
    allowedMountRoots: h.allowed_mount_roots,
  }));

/** A host's `repos` globs (owner/name or URL) restrict who may deploy to it; empty allows all. */
export function repoAllowed(host: HostConfig, repoId: string): boolean {
  return host.repos.length === 0 || compileGlob(host.repos)(repoId);
}
