/**
 * The hosts file (server side, never from a repository): where hosts are and how to reach them.
 * Secrets are referenced (a key file path or an env var name), never written here.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import type { HostRef } from "../plan/plan.ts";
import { type Problem, ProblemsError } from "./problems.ts";
import { SAFE_NAME } from "./repoConfigSchema.ts";
import { knownKeysOf, parseYamlSource, validateYaml } from "./yamlSource.ts";

const Fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, "expected SHA256:<base64> as printed by ssh-keygen -lf");
const KnownHostsLine = z
  .string()
  .regex(
    /^(?:\S+ )?(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-\S+) [A-Za-z0-9+/=]+/,
    "expected a known_hosts line: [host] <keytype> <base64>",
  );

export const HostSchema = z.strictObject({
  /** Name used in repo configs and commands. */
  name: z.string().regex(SAFE_NAME, 'host names may contain only letters, digits, ".", "_" and "-"').max(100),
  /** DNS name or IP address. */
  address: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9.:_-]+$/, "address must be a host name or IP address"),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*\$?$/i, "not a valid user name")
    .default("deploy"),
  labels: z.record(z.string().regex(SAFE_NAME), z.string()).default({}),
  /** Private key: a file path, or the name of an env var holding the key. */
  key: z
    .union([
      z.strictObject({ file: z.string().min(1) }),
      z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/) }),
    ])
    .optional(),
  /** The pinned host key: a known_hosts line or a SHA256 fingerprint. */
  host_key: z.union([Fingerprint, KnownHostsLine]).optional(),
  /** Accept and pin an unknown host key on first connection (off unless set). */
  trust_on_first_use: z.boolean().default(false),
  /** A host (by name, from this file) to jump through. */
  jump: z.string().regex(SAFE_NAME).optional(),
  /** `auto` tries `docker compose` (v2) and falls back to `docker-compose` (v1). */
  compose: z.enum(["auto", "docker compose", "docker-compose"]).default("auto"),
  /** Where stacks live on the host: <root>/<stack>/releases/<sha>, <root>/<stack>/current. */
  root: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]*$/, "root must be an absolute path of plain characters")
    .default("/srv/stackpilot"),
  /** Repositories (owner/name globs) allowed to deploy here; empty means any. */
  repos: z.array(z.string()).default([]),
  /** Absolute host paths compose files may bind-mount (others are refused). */
  allowed_mount_roots: z.array(z.string().regex(/^\//)).default([]),
});
export type HostConfig = z.output<typeof HostSchema>;

export const HostsFileSchema = z.strictObject({
  hosts: z.array(HostSchema).default([]),
});
export type HostsFile = z.output<typeof HostsFileSchema>;

export function parseHostsFile(text: string, file: string): { hosts: HostConfig[]; problems: Problem[] } {
  const src = parseYamlSource(file, text);
  if (src.value === undefined) return { hosts: [], problems: src.problems };
  const { data, problems } = validateYaml(src, HostsFileSchema, (p) => knownKeysOf(HostsFileSchema, p));
  const all = [...src.problems, ...problems];
  if (!data) return { hosts: [], problems: all };
  const seen = new Set<string>();
  data.hosts.forEach((h, i) => {
    const at = src.positionOf(["hosts", i, "name"]);
    if (seen.has(h.name))
      all.push({
        file,
        ...at,
        key: `hosts[${i}].name`,
        message: `duplicate host "${h.name}"`,
        severity: "error",
      });
    seen.add(h.name);
    if (!h.host_key && !h.trust_on_first_use) {
      all.push({
        file,
        ...at,
        key: `hosts[${i}]`,
        message: `host "${h.name}" has no host_key; pin one or set trust_on_first_use: true`,
        severity: "warning",
      });
    }
  });
  data.hosts.forEach((h, i) => {
    if (h.jump && !seen.has(h.jump)) {
      all.push({
        file,
        ...src.positionOf(["hosts", i, "jump"]),
        key: `hosts[${i}].jump`,
        message: `unknown jump host "${h.jump}"`,
        severity: "error",
      });
    }
  });
  return { hosts: data.hosts, problems: all };
}

/** Read and validate; throws ProblemsError on errors. */
export async function loadHostsFile(file: string): Promise<HostConfig[]> {
  const { hosts, problems } = parseHostsFile(await readFile(file, "utf8"), file);
  if (problems.some((p) => p.severity === "error")) throw new ProblemsError(problems);
  return hosts;
}

export const hostRefs = (hosts: readonly HostConfig[]): HostRef[] =>
  hosts.map((h) => ({ name: h.name, labels: h.labels }));
