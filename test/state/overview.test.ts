// The matrix's store reads (overview.ts) on both backends: each target's newest deployment comes
// from target_last, which migration 0009 fills from the history and every new deployment moves;
// drift checks come with the targets they were made on.
import { describe, expect, it } from "vitest";
import { createDeployment } from "../../src/state/deployments.ts";
import { migrate } from "../../src/state/migrate.ts";
import { MIGRATIONS } from "../../src/state/migrations/index.ts";
import { knownRepos, targetsOverview } from "../../src/state/overview.ts";
import { openDatabase } from "../../src/state/store.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();
const SHA = (n: number) => String(n).repeat(40).slice(0, 40);
const target = (stack: string, host: string, commit: string) => ({
  repo: "acme/infra",
  stack,
  host,
  commit,
  fingerprint: "f",
  actor: "alice",
  trigger: "merge" as const,
});

describe.each(backends)("the matrix's reads on $name", (backend) => {
  it("fills target_last, with status and environment, from the deployments recorded before migrations 0009 and 0010", async () => {
    const location = await backend.newDatabase();
    const db = await openDatabase(location);
    try {
      await migrate(
        db,
        MIGRATIONS.filter((m) => m.version < 9),
      );
      const insert = (stack: string, commit: string, status = "queued") =>
        db.query(
          `INSERT INTO deployments (repo, stack, host, commit_sha, fingerprint, actor, trigger, status, environment)
           VALUES ('acme/infra', $1, 'h1', $2, 'f', 'alice', 'merge', $3, $1 || '-env') RETURNING id`,
          [stack, commit, status],
        );
      await insert("web", SHA(1));
      const [newest] = await insert("web", SHA(2), "failed");
      await insert("api", SHA(3));
      expect(await migrate(db)).toEqual([9, 10]);
      const web = (await targetsOverview(db, "acme/infra")).find((t) => t.stack === "web");
      expect(web?.last).toEqual({ id: Number(newest?.id), status: "failed" });
      expect(web?.environment).toBe("web-env");
    } finally {
      await db.close();
    }
  });

  it("moves a target's newest deployment with each one created, whatever their order of ending", async () => {
    const store = await backend.openStore();
    const first = await createDeployment(store.db, target("web", "h1", SHA(1)));
    const second = await createDeployment(store.db, target("web", "h1", SHA(2)));
    const third = await createDeployment(store.db, target("web", "h2", SHA(3)));
    await store.finishDeployment(second, { status: "failed", error: "x" });
    await store.finishDeployment(first, { status: "succeeded" });
    const rows = await targetsOverview(store.db, "acme/infra");
    expect(rows.map((t) => [t.stack, t.host, t.last?.id, t.last?.status])).toEqual([
      ["web", "h1", second, "failed"],
      ["web", "h2", third, "queued"],
    ]);
    expect(await knownRepos(store.db)).toEqual(["acme/infra"]);
  });

  it("lists deployed-only targets and targets never deployed, with drift only where it was checked", async () => {
    const store = await backend.openStore();
    await store.setDeployed({ ...target("db", "h1", SHA(4)), fingerprint: "f" });
    await store.createDeployment(target("web", "h1", SHA(5)));
    await store.recordDriftCheck({
      repo: "acme/infra",
      stack: "db",
      host: "h1",
      state: "drifted",
      details: ["db-1 is missing", `"quoted" \\ and <b>`],
      commit: SHA(4),
    });
    await store.setDeployed({ ...target("x", "h1", SHA(6)), repo: "other/repo" });
    const rows = await store.targetsOverview("acme/infra");
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      stack: "db",
      host: "h1",
      deployed: { commit: SHA(4), pinned: false },
      last: null,
      drift: { state: "drifted", details: ["db-1 is missing", `"quoted" \\ and <b>`] },
    });
    expect(rows[0]?.deployed?.deployedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(rows[1]).toMatchObject({ stack: "web", deployed: null, last: { status: "queued" }, drift: null });
    expect(await store.knownRepos()).toEqual(["acme/infra", "other/repo"]);
    expect(await store.targetsOverview("none/such")).toEqual([]);
  });

  it("reads names holding the text form's separators whole (the JSON form is read instead)", async () => {
    const store = await backend.openStore();
    await store.setDeployed({ ...target("a\x1eb", "h1", SHA(7)) });
    await store.setDeployed({ ...target("c\x1fd", "h\x1e2", SHA(8)) });
    await store.createDeployment({ ...target("plain", "h1", SHA(9)), environment: "prod" });
    const rows = await store.targetsOverview("acme/infra");
    expect(rows.map((t) => [t.stack, t.host, t.deployed?.commit ?? null, t.environment])).toEqual([
      ["a\x1eb", "h1", SHA(7), null],
      ["c\x1fd", "h\x1e2", SHA(8), null],
      ["plain", "h1", null, "prod"],
    ]);
  });

  it("returns the targets by stack, then host, whatever order they were written in", async () => {
    const store = await backend.openStore();
    for (const [stack, host] of [
      ["web", "h2"],
      ["api", "h9"],
      ["web", "h1"],
      ["api", "h10"],
    ] as const)
      await store.setDeployed({ ...target(stack, host, SHA(1)) });
    await store.createDeployment(target("db", "h1", SHA(2)));
    const rows = await store.targetsOverview("acme/infra");
    expect(rows.map((t) => `${t.stack}@${t.host}`)).toEqual([
      "api@h10",
      "api@h9",
      "db@h1",
      "web@h1",
      "web@h2",
    ]);
  });

  it("keeps the newest deployment's status in target_last through every change the store makes", async () => {
    const store = await backend.openStore();
    const last = async () => (await store.targetsOverview("acme/infra"))[0]?.last?.status;
    const running = await store.createDeployment({ ...target("web", "h1", SHA(1)), environment: "prod" });
    expect(await last()).toBe("queued");
    await store.startDeployment(running);
    expect(await last()).toBe("running");
    await store.finishDeployment(running, { status: "rolled_back", error: "health" });
    expect(await last()).toBe("rolled_back");
    const next = await store.createDeployment({ ...target("web", "h1", SHA(2)), environment: "prod" });
    await store.startDeployment(next);
    // A running deployment whose deploy lock is gone, as a restarted App finds it.
    expect((await store.recoverInterrupted()).map((d) => d.id)).toEqual([next]);
    expect(await last()).toBe("interrupted");
    // The older deployment's later changes are not the target's.
    await store.db.query("UPDATE deployments SET status = 'succeeded' WHERE id = $1", [running]);
    expect(await last()).toBe("interrupted");
    expect((await store.targetsOverview("acme/infra"))[0]?.environment).toBe("prod");
  });
});
