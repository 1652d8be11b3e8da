/**
 * `node seedState.js ROOT DATA_DIR REPO`: fills a state store (ROOT's dist/, so each version of
 * the code writes its own) with what a used installation holds: 6 stacks on 3 hosts deployed, 120
 * deployments with 6 logged commands each, a lock. JavaScript, loaded by no measured process.
 */
import { join } from "node:path";

const [root, dataDir, repo] = process.argv.slice(2);
if (!root || !dataDir || !repo) throw new Error("usage: seedState.js ROOT DATA_DIR REPO");
const { openStore } = await import(join(root, "dist", "state", "store.js"));
const store = await openStore({ dataDir });
try {
  const stacks = ["authelia", "adguardhome", "webapp", "monitoring", "whoami", "extra"];
  const hosts = ["app-1", "app-2", "edge-1"];
  const sha = (n) => n.toString(16).padStart(40, "0");
  for (let i = 0; i < 120; i++) {
    const stack = stacks[i % stacks.length];
    const host = hosts[i % hosts.length];
    const target = { repo, stack, host };
    const id = await store.createDeployment({
      ...target,
      commit: sha(i),
      fingerprint: `fp${i}`,
      actor: "bench",
      trigger: "cli",
    });
    await store.startDeployment(id);
    for (let c = 0; c < 6; c++)
      await store.appendCommandLog(id, {
        command: `docker compose up -d # step ${c}`,
        code: 0,
        output: "x".repeat(2000),
      });
    await store.finishDeployment(id, {
      status: i % 10 === 0 ? "failed" : "succeeded",
      ...(i % 10 === 0 ? { error: "exit 1" } : {}),
    });
    await store.setDeployed({ ...target, commit: sha(i), fingerprint: `fp${i}`, deploymentId: id });
  }
  await store.acquireLock(`deploy:${repo}:webapp:app-1`, "bench", 3_600_000);
} finally {
  await store.close();
}
