/**
 * Deployed state as a JSON file, for `stackpilot plan --state` without a database:
 * `{"deployed": [{"stack", "host", "fingerprint", "commit", "pinned"?}]}`.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ProblemsError } from "../config/problems.ts";
import type { DeployedRecord } from "../plan/plan.ts";

const StateFileSchema = z.strictObject({
  deployed: z.array(
    z.strictObject({
      stack: z.string().min(1),
      host: z.string().min(1),
      fingerprint: z.string().regex(/^sha256:[0-9a-f]{64}$/),
      commit: z.string().regex(/^[0-9a-f]{7,64}$/),
      pinned: z.boolean().optional(),
    }),
  ),
});

export async function loadStateFile(file: string): Promise<DeployedRecord[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new ProblemsError([
      {
        file,
        line: 0,
        col: 0,
        key: "",
        message: `not valid JSON: ${(err as Error).message}`,
        severity: "error",
      },
    ]);
  }
  const result = StateFileSchema.safeParse(value);
  if (!result.success) {
    throw new ProblemsError(
      result.error.issues.map((i) => ({
        file,
        line: 0,
        col: 0,
        key: i.path.join("."),
        message: i.message,
        severity: "error" as const,
      })),
    );
  }
  return result.data.deployed;
}
