/** The containers a test host runs, by compose service, and commands inside them (e2e assertions). */
import { expect } from "vitest";
import type { Harness, TestHost } from "./harness.ts";

/** service -> container id on `host`. */
export async function containersOn(h: Harness, host: string | TestHost): Promise<Record<string, string>> {
  const ps = await h.docker(host, ["ps", "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}']);
  return Object.fromEntries(
    ps.stdout
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ").reverse()),
  );
}

/** What `argv` prints inside `service`'s container on `host` (it must exist and exit 0). */
export async function insideContainer(
  h: Harness,
  host: string | TestHost,
  service: string,
  argv: string[],
): Promise<string> {
  const id = (await containersOn(h, host))[service];
  expect(id, `no container for ${service}`).toBeDefined();
  const r = await h.docker(host, ["exec", id as string, ...argv]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}
