/**
 * Drift rounds on both database backends, with hosts answering the probe from a model (the probe
 * script itself runs through a real sh in test/deploy/liveState.test.ts, on real hosts in
 * test/e2e/drift.test.ts) and a healer that records heal deployments as runPlan does: what is
 * checked when, what is recorded and told, and what is healed, retried, refused or given up.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { beforeEach, describe, expect, it } from "vitest";
import { type HostConfig, HostSchema } from "../../src/config/hostsFile.ts";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import type { LiveContainer } from "../../src/deploy/commands/live.ts";
import { type RemoteExec, Runner } from "../../src/deploy/runner.ts";
import type { HealHostResult, HealRequest } from "../../src/drift/healing.ts";
import { type DriftDeps, driftRound } from "../../src/drift/round.ts";
import type { NotifyInput } from "../../src/notify/notifier.ts";
import { policyFromConfig } from "../../src/policy/policy.ts";
import type { Store } from "../../src/state/store.ts";
import { type StateBackend, useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();

const A = "a".repeat(40);
const HASH = "c".repeat(64);
const IMAGE = `sha256:${"d".repeat(64)}`;
const hosts: HostConfig[] = ["h1", "h2", "h3"].map(
  (name) => HostSchema.parse({ name, address: "192.0.2.1", root: "/srv/sp" }) as HostConfig,
);

/** What each host runs: `current` per stack and containers; hosts in `down` do not answer. */
interface Model {
  currents: Map<string, Map<string, string>>;
  containers: Map<string, LiveContainer[]>;
  down: Set<string>;
}

const container = (stack: string, service = stack, extra: Partial<LiveContainer> = {}): LiveContainer => ({
  name: `${stack}-${service}-1`,
  project: stack,
  service,
  oneoff: false,
  configHash: HASH,
  image: IMAGE,
  status: "running",
  exitCode: 0,
  ...extra,
});

function hostsRunning(stacks: string[]): Model {
  const model: Model = { currents: new Map(), containers: new Map(), down: new Set() };
  for (const h of hosts) {
    model.currents.set(h.name, new Map(stacks.map((s) => [s, A])));
    model.containers.set(
      h.name,
      stacks.map((s) => container(s)),
    );
  }
  return model;
}

/** Answers the probe from the model, as the script would print it; records every command. */
function modelHosts(model: Model): RemoteExec & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    async exec(host, line) {
      lines.push(`${host} ${line.slice(0, 12)}`);
      if (model.down.has(host)) throw new Error(`${host}: connect ECONNREFUSED`);
      const out: string[] = [];
      for (const [stack, release] of model.currents.get(host) ?? [])
        out.push(`L\t/srv/sp/${stack}/current\treleases/${release}`);
      for (const c of model.containers.get(host) ?? [])
        out.push(
          [
            "C",
            JSON.stringify(`/${c.name}`),
            JSON.stringify(c.project),
            JSON.stringify(c.service),
            JSON.stringify(c.oneoff ? "True" : "False"),
            JSON.stringify(c.configHash),
            JSON.stringify(c.image),
            JSON.stringify(c.status),
            String(c.exitCode),
          ].join("\t"),
        );
      return { code: 0, stdout: `${out.join("\n")}\n`, stderr: "", durationMs: 1 };
    },
  };
}

const policyOf = (yaml: string) => {
  const { config, problems } = loadRepoConfig(yaml);
  expect(problems).toEqual([]);
  return policyFromConfig(config, { branch: "main", commit: "f".repeat(40) });
};

const HEAL_ALL = `
environments:
  production:
    drift: { every: 10m, heal: true, max_heals: 2 }
defaults: { environment: production }
stacks:
  - name: jobs
    drift: { every: 10m, heal: false }
`;

describe.each(backends)("drift rounds on $name", (backend: StateBackend) => {
  let store: Store;
  let repo: string;
  let model: Model;
  let remote: ReturnType<typeof modelHosts>;
  let told: NotifyInput[];
  let logged: string[];
  let heals: HealRequest[];
  /** What the healer does to the model (repair) and answers; default: repairs and succeeds. */
  let healer: (req: HealRequest) => Promise<HealHostResult[]>;

  beforeEach(async () => {
    store = await backend.sharedStore();
    repo = `acme/${randomUUID()}`;
    model = hostsRunning(["web", "jobs"]);
    remote = modelHosts(model);
    told = [];
    logged = [];
    heals = [];
    healer = async (req) => recordHeals(req, "succeeded", () => repair(req));
    for (const h of hosts)
      for (const stack of ["web", "jobs"])
        await store.setDeployed({
          repo,
          stack,
          host: h.name,
          fingerprint: "sha256:x",
          commit: A,
          release: A,
          expected: {
            project: stack,
            services: { [stack]: { configHash: HASH, image: IMAGE, containers: 1 } },
          },
        });
  });

  /** Heal deployments in the ledger, as runPlan records them with the trigger `heal`. */
  async function recordHeals(
    req: HealRequest,
    status: "succeeded" | "failed",
    effect: () => void,
  ): Promise<HealHostResult[]> {
    heals.push(req);
    effect();
    return Promise.all(
      req.targets.map(async (t) => {
        const id = await store.createDeployment({
          ...t,
          fingerprint: "sha256:x",
          actor: "stackpilot",
          trigger: "heal",
        });
        await store.finishDeployment(id, {
          status,
          ...(status === "failed" ? { error: "up failed: no space left" } : {}),
        });
        return {
          host: t.host,
          status,
          deploymentId: id,
          ...(status === "failed" ? { error: "up failed: no space left" } : {}),
        };
      }),
    );
  }

  function repair(req: HealRequest): void {
    for (const t of req.targets) {
      model.currents.get(t.host)?.set(t.stack, t.commit);
      const others = (model.containers.get(t.host) ?? []).filter((c) => c.project !== t.stack);
      model.containers.set(t.host, [...others, container(t.stack)]);
    }
  }

  const deps = (yaml = HEAL_ALL, more: Partial<DriftDeps> = {}): DriftDeps => ({
    store,
    hosts,
    runner: new Runner(remote),
    repos: async () => [{ repo, policy: policyOf(yaml) }],
    heal: (req) => healer(req),
    notifier: { emit: (e) => told.push(e) },
    log: { info: () => {}, warn: (m) => logged.push(`warn ${m}`), error: (m) => logged.push(`error ${m}`) },
    holder: "test",
    healBackoffMs: 1_000,
    ...more,
  });
  const checksOf = async () =>
    Object.fromEntries((await store.listDriftChecks(repo)).map((c) => [`${c.stack}@${c.host}`, c]));
  const stop = (host: string, stack: string) => {
    const list = model.containers.get(host) ?? [];
    model.containers.set(
      host,
      list.map((c) => (c.project === stack ? { ...c, status: "exited" as const, exitCode: 137 } : c)),
    );
  };

  it("checks every target with one command per host, records them in sync, and checks nothing before `every`", async () => {
    const round = await driftRound(deps());
    expect(round?.checked.map((c) => c.verdict.state)).toEqual(Array(6).fill("in_sync"));
    expect(remote.lines.map((l) => l.split(" ")[0]).sort()).toEqual(["h1", "h2", "h3"]);
    const checks = await checksOf();
    expect(Object.keys(checks).sort()).toEqual([
      "jobs@h1",
      "jobs@h2",
      "jobs@h3",
      "web@h1",
      "web@h2",
      "web@h3",
    ]);
    expect(checks["web@h1"]).toMatchObject({ state: "in_sync", details: [], commit: A, heal: null });
    expect(heals).toEqual([]);
    // In sync from the first check: there was nothing to end.
    expect(told.map((t) => t.type)).toEqual(Array(6).fill("in_sync"));

    remote.lines.length = 0;
    expect((await driftRound(deps()))?.checked).toEqual([]);
    expect(remote.lines).toEqual([]);
    // Without drift settings on the default branch, nothing is checked at all.
    expect((await driftRound(deps("environments: {}\n"), { all: true }))?.checked).toEqual([]);
  });

  it("heals a drifted target by redeploying its recorded commit, then finds it in sync again", async () => {
    await driftRound(deps());
    told.length = 0;
    stop("h1", "web");
    model.currents.get("h2")?.set("web", "b".repeat(40));
    const round = await driftRound(deps(), { all: true });
    expect(round?.checked.slice(0, 6).filter((c) => c.verdict.state !== "in_sync")).toEqual([
      expect.objectContaining({
        stack: "web",
        host: "h1",
        verdict: { state: "drifted", healable: true, differences: ["web: not running (exited 137)"] },
      }),
      expect.objectContaining({
        stack: "web",
        host: "h2",
        verdict: expect.objectContaining({ differences: ["current points at bbbbbbb, recorded aaaaaaa"] }),
      }),
    ]);
    // One plan for the stack's recorded commit, for both hosts.
    expect(heals).toEqual([
      {
        repo,
        commit: A,
        stack: "web",
        targets: [
          expect.objectContaining({ host: "h1", commit: A }),
          expect.objectContaining({ host: "h2", commit: A }),
        ],
      },
    ]);
    expect(round?.healed.map((t) => t.host)).toEqual(["h1", "h2"]);
    expect(round?.checked.slice(6).map((c) => `${c.host} ${c.verdict.state}`)).toEqual([
      "h1 in_sync",
      "h2 in_sync",
    ]);
    expect((await checksOf())["web@h1"]).toMatchObject({ state: "in_sync", heal: null });
    expect(told.map((t) => `${t.type} ${t.host}`)).toEqual([
      "drift h1",
      "drift h2",
      "in_sync h1",
      "in_sync h2",
    ]);
  });

  it("never heals a target pinned by a rollback, one whose rules say heal: false, or on a host that is down", async () => {
    await driftRound(deps());
    const pinned = { repo, stack: "web", host: "h1" };
    await store.pin(pinned);
    stop("h1", "web");
    stop("h1", "jobs");
    model.down.add("h3");
    const round = await driftRound(deps(), { all: true });
    expect(heals).toEqual([]);
    const checks = await checksOf();
    expect(checks["web@h1"]).toMatchObject({
      state: "drifted",
      heal: { outcome: "refused", detail: expect.stringContaining("pinned by a rollback") },
    });
    expect(checks["jobs@h1"]).toMatchObject({ state: "drifted", heal: null });
    expect(checks["web@h3"]).toMatchObject({
      state: "unreachable",
      details: ["h3: connect ECONNREFUSED"],
      heal: null,
    });
    expect(round?.checked.filter((c) => c.verdict.state === "unreachable").map((c) => c.stack)).toEqual([
      "jobs",
      "web",
    ]);
    expect(logged.filter((l) => l.includes("could not be checked"))).toHaveLength(2);
  });

  it("leaves a stack stopped on purpose alone: not checked, not told, not healed", async () => {
    await driftRound(deps());
    told.length = 0;
    await store.markStopped({ repo, stack: "web", host: "h1" }, "alice");
    stop("h1", "web");
    const round = await driftRound(deps(), { all: true });
    expect(round?.checked.some((c) => c.stack === "web" && c.host === "h1")).toBe(false);
    expect(round?.checked.filter((c) => c.verdict.state !== "in_sync")).toEqual([]);
    expect(heals).toEqual([]);
    expect(told.filter((t) => t.type === "drift")).toEqual([]);
  });

  it("retries a failed heal at a later round after its backoff, and gives up loudly at the limit", async () => {
    await driftRound(deps());
    healer = async (req) => recordHeals(req, "failed", () => {});
    stop("h1", "web");
    await driftRound(deps(), { all: true });
    expect(heals).toHaveLength(1);
    expect((await checksOf())["web@h1"]).toMatchObject({
      state: "drifted",
      heal: {
        outcome: "failed",
        detail: expect.stringMatching(/^deployment #\d+: up failed: no space left$/),
      },
    });
    expect(told.filter((t) => t.type === "heal_failed")).toHaveLength(1);

    // Within the backoff: no heal.
    await driftRound(deps(), { all: true });
    expect(heals).toHaveLength(1);
    await sleep(1_100);
    await driftRound(deps(), { all: true });
    expect(heals).toHaveLength(2);

    // max_heals: 2 within the hour: given up, said once at error level, and stays so.
    await driftRound(deps(), { all: true });
    await driftRound(deps(), { all: true });
    expect(heals).toHaveLength(2);
    const given = (await checksOf())["web@h1"];
    expect(given?.heal).toMatchObject({
      outcome: "given_up",
      detail: "2 heals within 60 minutes did not keep it in sync",
    });
    expect(given?.heal?.until?.getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
    expect(logged.filter((l) => l.startsWith("error ") && l.includes("given up"))).toHaveLength(1);
    expect(told.filter((t) => t.type === "heal_given_up")).toHaveLength(2);
  });

  it("leaves a target where only one-off containers differ unhealed, and says why", async () => {
    await driftRound(deps());
    model.containers.get("h2")?.push(container("web", "web", { name: "web_web_run_1", oneoff: true }));
    await driftRound(deps(), { all: true });
    expect(heals).toEqual([]);
    expect((await checksOf())["web@h2"]).toMatchObject({
      state: "drifted",
      details: ["extra container web_web_run_1 (one-off, from `run`)"],
      heal: { outcome: "not_healable" },
    });
  });

  it("is run by one replica at a time", async () => {
    expect(await store.acquireLock("drift", "other-replica", 60_000)).toBe(true);
    try {
      expect(await driftRound(deps(), { all: true })).toBeUndefined();
      expect(remote.lines).toEqual([]);
    } finally {
      await store.releaseLock("drift", "other-replica");
    }
  });
});
