// runPlan's hook wiring, on both backends: the deployer is given the deploy's origin and a journal
// writing each attempt to the store (numbered on from a crashed deployment's), and the target's
// result carries its hook runs and warnings.
import { describe, expect, it } from "vitest";
import { HostSchema } from "../../src/config/hostsFile.ts";
import type { HookRun } from "../../src/deploy/hookSteps.ts";
import type { DeployRequest, DeployResult, HostDeployer } from "../../src/deploy/hostDeploy.ts";
import { runPlan } from "../../src/deploy/orchestrate.ts";
import type { RemoteExec } from "../../src/deploy/runner.ts";
import type { Snapshot } from "../../src/detect/snapshot.ts";
import type { GitRepo } from "../../src/git/repo.ts";
import type { Plan } from "../../src/plan/plan.ts";
import { useStateBackends } from "../helpers/stateBackends.ts";

const backends = useStateBackends();
const COMMIT = "e".repeat(40);

describe.each(backends)("a deploy's hooks through runPlan on $name", (backend) => {
  it("journals each attempt in the store and returns the runs and warnings with the target's result", async () => {
    const store = await backend.openStore();
    // A deployment of the same target and commit whose deployer died inside pre_deploy.
    const crashed = await store.createDeployment({
      repo: "o/r",
      stack: "web",
      host: "h1",
      commit: COMMIT,
      fingerprint: "f",
      actor: "t",
      trigger: "merge",
    });
    await store.startDeployment(crashed);
    await store.startHookRun(crashed, { hook: "pre_deploy", attempt: 1, required: true });

    const requests: DeployRequest[] = [];
    const deployer = {
      async deploy(req: DeployRequest): Promise<DeployResult> {
        requests.push(req);
        const journal = req.hookJournal;
        if (!journal) throw new Error("no journal");
        const attempt = ((await journal.priorAttempts()).pre_deploy ?? 0) + 1;
        const run: HookRun = {
          hook: "pre_deploy",
          attempt,
          required: false,
          status: "failed",
          exitCode: 1,
          durationMs: 42,
          output: "nope\n",
        };
        await journal.finished(await journal.started("pre_deploy", attempt, false), run);
        return {
          status: "succeeded",
          release: req.commit,
          uploadBytes: 1,
          timings: {},
          hooks: [run],
          warnings: ["pre_deploy hook failed (exit status 1) (not required: the deploy went on)"],
        };
      },
    } as unknown as HostDeployer;
    const remote: RemoteExec = {
      exec: async () => {
        throw new Error("no remote command expected");
      },
    };
    const [result] = await runPlan({
      repo: { dir: "/nonexistent" } as GitRepo,
      repoId: "o/r",
      plan: {
        stacks: [{ name: "web", targets: [{ host: "h1", action: "deploy", reasons: [] }] }],
      } as unknown as Plan,
      head: { commit: COMMIT, stacks: new Map([["web", { fingerprint: "f" }]]) } as unknown as Snapshot,
      hosts: [
        HostSchema.parse({
          name: "h1",
          address: "192.0.2.1",
          compose: "docker-compose",
          trust_on_first_use: true,
        }),
      ],
      remote,
      makeDeployer: () => deployer,
      ledger: store,
      actor: "alice",
      trigger: "merge",
    });

    expect(requests[0]?.origin).toEqual({
      actor: "alice",
      trigger: "merge",
      deploymentId: result?.deploymentId,
    });
    expect(result).toMatchObject({
      status: "succeeded",
      warnings: ["pre_deploy hook failed (exit status 1) (not required: the deploy went on)"],
    });
    expect(result?.hooks?.map((h) => [h.hook, h.attempt, h.status])).toEqual([["pre_deploy", 2, "failed"]]);
    const recorded = await store.listHookRuns(result?.deploymentId as number);
    expect(recorded).toMatchObject([
      {
        hook: "pre_deploy",
        attempt: 2,
        required: false,
        status: "failed",
        exitCode: 1,
        durationMs: 42,
        output: "nope\n",
      },
    ]);
    expect((await store.getDeployment(crashed))?.status).toBe("interrupted");
  });
});
