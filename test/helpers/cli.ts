/** Runs the CLI in-process, capturing what it prints. */
import { main } from "../../src/cli/main.ts";

export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** `stackpilot deploy` argv for a checkout, a hosts file and a state directory. */
export function deployArgs(where: {
  repo: string;
  hosts: string;
  data: string;
  healthTimeoutS?: number;
}): string[] {
  return [
    "deploy",
    "--repo",
    where.repo,
    "--hosts",
    where.hosts,
    "--data",
    where.data,
    ...(where.healthTimeoutS === undefined ? [] : ["--health-timeout", String(where.healthTimeoutS)]),
  ];
}
