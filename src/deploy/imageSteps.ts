/**
 * The image steps of a run (orchestrate.ts): per target the image operations the plan gave it,
 * registry logins with their passwords read once (and redacted from every recorded output), and
 * each build on its builder under a database lock, recorded with its log.
 */
import type { HostConfig } from "../config/hostsFile.ts";
import { readSecret } from "../config/secretRef.ts";
import { credentialsOf, type ImageBuild, imageHome, type TargetImageOps } from "../plan/images.ts";
import { buildImage, type Login } from "./build.ts";
import { DeployRefused, errorText } from "./hostDeploy.ts";
import { memo } from "./hostTarget.ts";
import type { OrchestrateInput } from "./orchestrate.ts";
import { Runner, redactor } from "./runner.ts";

/**
 * What runPlan needs for images: the per-target operations, logins with their passwords read once
 * (and redacted from every recorded output), and one build on its builder, recorded with its log.
 * A build's failure is returned as the text its stack's deploys fail with.
 */
export function imageSupport(
  input: OrchestrateInput,
  hostsByName: ReadonlyMap<string, HostConfig>,
  lock: { holder: string; ttlMs: number },
) {
  const targets = new Map((input.images?.plan?.targets ?? []).map((t) => [`${t.stack}\0${t.host}`, t]));
  const logins = registryLogins(input, hostsByName);
  return {
    redact: logins.redact,
    /** undefined: the stack builds nothing here; "missing": it builds but no image plan covers it. */
    opsOf(stack: string, host: string): TargetImageOps | "missing" | undefined {
      const ops = targets.get(`${stack}\0${host}`);
      if (ops) return ops;
      const snap = input.head.stacks.get(stack);
      return snap?.compose?.services.some((s) => s.build) ? "missing" : undefined;
    },
    async loginsOf(host: string, names: readonly string[]): Promise<Login[]> {
      const all = await Promise.all(names.map((n) => logins.loginOf(n, host)));
      return all.filter((l): l is Login => l !== undefined);
    },
    build: (b: ImageBuild): Promise<string | undefined> =>
      buildRecorded(input, { builder: hostsByName.get(b.builder), logins, lock }, b),
  };
}

type RegistryLogins = ReturnType<typeof registryLogins>;

/**
 * A registry's login for a host, its password read once per secret; every password read is then
 * redacted by `redact` (with the caller's own redaction).
 */
function registryLogins(input: OrchestrateInput, hostsByName: ReadonlyMap<string, HostConfig>) {
  const registries = new Map((input.images?.registries ?? []).map((r) => [r.name, r]));
  const secrets: string[] = [];
  const hide = redactor(secrets);
  const passwords = new Map<string, Promise<string>>();
  const read = input.images?.readSecret ?? readSecret;
  return {
    redact: (text: string) => hide(input.redact ? input.redact(text) : text),
    async loginOf(registryName: string, host: string): Promise<Login | undefined> {
      const registry = registries.get(registryName);
      if (!registry) throw new DeployRefused(`registry "${registryName}" is not in the hosts file`);
      const creds = credentialsOf(registry, hostsByName.get(host));
      if (!creds) return undefined;
      const key = JSON.stringify(creds.password);
      const password = await memo(passwords, key, async () => {
        const value = await read(creds.password, `password of registry ${registry.name} for ${host}`);
        secrets.push(value);
        return value;
      });
      return { registry: registry.name, address: registry.address, username: creds.username, password };
    },
  };
}

/**
 * One build on its builder, under the database lock of its image, recorded with its log; returns
 * undefined once built (and pushed), else the error its stack's deploys fail with.
 */
async function buildRecorded(
  input: OrchestrateInput,
  on: { builder: HostConfig | undefined; logins: RegistryLogins; lock: { holder: string; ttlMs: number } },
  b: ImageBuild,
): Promise<string | undefined> {
  const { builder, logins, lock } = on;
  const log: string[] = [];
  const runner = new Runner(input.remote, {
    redact: logins.redact,
    onRecord: (r) =>
      log.push(`$ ${r.line}\n${r.stdout}${r.stderr}${r.code === 0 ? "" : `(exit ${r.code})\n`}`),
  });
  const id = await input.ledger.startBuild?.({
    repo: input.repoId,
    stack: b.stack,
    service: b.service,
    registry: imageHome(b.registry, b.builder),
    builder: b.builder,
    fingerprint: b.fingerprint,
    image: b.image,
    commit: input.head.commit,
    actor: input.actor,
  });
  try {
    if (!builder) throw new DeployRefused(`builder "${b.builder}" is not in the hosts file`);
    await input.ledger.withLock(`build:${input.repoId}:${b.image}`, lock.holder, lock.ttlMs, async () => {
      const login = b.registry ? await logins.loginOf(b.registry, b.builder) : undefined;
      await buildImage(runner, {
        repoDir: input.repo.dir,
        commit: input.head.commit,
        build: b,
        root: builder.root,
        ...(b.registry ? { push: login ? { login } : {} } : {}),
      });
    });
    if (id !== undefined) await input.ledger.finishBuild?.(id, { status: "succeeded", log: log.join("") });
    return undefined;
  } catch (err) {
    const error = `image ${b.stack}/${b.service} (built on ${b.builder}): ${errorText(err)}`;
    if (id !== undefined)
      await input.ledger.finishBuild?.(id, { status: "failed", error, log: log.join("") }).catch(() => {});
    return error;
  }
}
