// The repository the drift tests deploy: one commit with the rules (`drift: { every: 30s }`),
// then one adding a stack of one sleeping service.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleeperCompose } from "./harness/harness.ts";

/** An image every harness host has (built offline by the harness). */
export const DRIFT_IMAGE = "stackpilot-test/busybox:1";

export function buildDriftRepo(
  dir: string,
  opts: { stack: string; service: string; heal: boolean; deployOn?: "merge" },
): void {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8" });
  mkdirSync(join(dir, ".github"), { recursive: true });
  git("init", "-q", "-b", "main", ".");
  git("config", "user.name", "Drift Test");
  git("config", "user.email", "drift@example.invalid");
  writeFileSync(
    join(dir, ".github/stackpilot.yml"),
    [
      "version: 1",
      'discover: { roots: ["stacks/*"] }',
      "defaults: { environment: production }",
      "environments:",
      "  production:",
      '    hosts: ["*"]',
      ...(opts.deployOn ? [`    deploy_on: ${opts.deployOn}`] : []),
      `    drift: { every: 30s, heal: ${opts.heal} }`,
      "",
    ].join("\n"),
  );
  git("add", "-A");
  git("commit", "-q", "-m", "rules");
  mkdirSync(join(dir, "stacks", opts.stack), { recursive: true });
  writeFileSync(
    join(dir, "stacks", opts.stack, "compose.yaml"),
    sleeperCompose(opts.service, [`image: ${DRIFT_IMAGE}`]),
  );
  git("add", "-A");
  git("commit", "-q", "-m", opts.stack);
}
