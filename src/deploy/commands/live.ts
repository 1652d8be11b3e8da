/**
 * What a host runs, for drift detection and `stackpilot status --live`: every stack's `current`
 * and every container of their compose projects, in one round trip per host whatever the number
 * of stacks (a constant script, every variable part a positional argument). Read-only: `readlink`,
 * `docker ps` and `docker inspect`, two docker CLI processes in all. Pure builder and parser.
 */
import { posix } from "node:path";
import { z } from "zod";
import { type Argv, script } from "../shell.ts";

/**
 * One line per container. Strings from labels go through `json`, so a label holding a tab or a
 * newline cannot forge a line; a missing label is `""`.
 */
const CONTAINER_FORMAT = [
  "C",
  "{{json .Name}}",
  '{{json (index .Config.Labels "com.docker.compose.project")}}',
  '{{json (index .Config.Labels "com.docker.compose.service")}}',
  '{{json (index .Config.Labels "com.docker.compose.oneoff")}}',
  '{{json (index .Config.Labels "com.docker.compose.config-hash")}}',
  "{{json .Image}}",
  "{{json .State.Status}}",
  "{{.State.ExitCode}}",
].join("\t");

/**
 * Prints `L <tab> link <tab> target` per `current` link (an empty target when there is none), then
 * `C ...` (CONTAINER_FORMAT) per container of the projects. Docker ANDs label filters, so one
 * `docker ps` lists every compose container with its project, the shell keeps those of the
 * projects asked for (whole names: project names have no spaces), and one `docker inspect` reads them. A container removed between the two
 * makes `inspect` fail: the pair runs once more. Exit 3 when docker does not answer.
 */
export function liveProbe(links: readonly string[], projects: readonly string[]): Argv {
  return script(
    `n=$1 fmt=$2; shift 2
i=0
while [ "$i" -lt "$n" ]; do
  printf 'L\\t%s\\t%s\\n' "$1" "$(readlink -- "$1" 2>/dev/null)"
  shift; i=$((i + 1))
done
[ $# -gt 0 ] || exit 0
want=" $* "
set -f
look() {
  all=$(docker ps --all --no-trunc --filter label=com.docker.compose.project --format '{{.ID}} {{.Label "com.docker.compose.project"}}') || return 3
  ids=$(printf '%s\\n' "$all" | while read -r id proj rest; do [ -n "$rest" ] || case $want in *" $proj "*) printf '%s ' "$id";; esac; done)
  [ -z "$ids" ] || docker inspect --format "$fmt" -- $ids
}
out=$(look) || out=$(look) || exit 3
[ -z "$out" ] || printf '%s\\n' "$out"`,
    String(links.length),
    CONTAINER_FORMAT,
    ...links,
    ...projects,
  );
}

export const LiveContainer = z.object({
  name: z.string().max(300),
  project: z.string().max(300),
  service: z.string().max(300),
  /** Made by `compose run` rather than by the project's services. */
  oneoff: z.boolean(),
  configHash: z.string().max(200),
  image: z.string().max(200),
  status: z.enum(["created", "running", "paused", "restarting", "removing", "exited", "dead"]),
  exitCode: z.number().int(),
});
export type LiveContainer = z.infer<typeof LiveContainer>;

export interface LiveReading {
  /** link -> the release it points at (its last path element), null when there is none. */
  currents: Map<string, string | null>;
  containers: LiveContainer[];
}

/** Host replies are input from outside: every line is validated, anything else is an error. */
export function parseLiveProbe(stdout: string): LiveReading {
  const currents = new Map<string, string | null>();
  const containers: LiveContainer[] = [];
  for (const [i, line] of stdout.split("\n").entries()) {
    if (!line) continue;
    const fields = line.split("\t");
    if (fields[0] === "L" && fields.length === 3) {
      const target = (fields[2] as string).trim();
      currents.set(fields[1] as string, target ? posix.basename(target) : null);
      continue;
    }
    const parsed = fields[0] === "C" && fields.length === 9 ? containerOf(fields) : undefined;
    if (!parsed) {
      const cut = /^\[\.\.\. \d+ characters cut\]$/.test(line);
      throw new Error(
        cut
          ? "the host's reply was cut at the runner's output limit: too many containers to compare in one reply"
          : `unexpected reply, line ${i + 1}: ${JSON.stringify(line.slice(0, 200))}`,
      );
    }
    containers.push(parsed);
  }
  return { currents, containers };
}

function containerOf(f: string[]): LiveContainer | undefined {
  const json = (text: string | undefined): unknown => {
    try {
      return JSON.parse(text ?? "");
    } catch {
      return undefined;
    }
  };
  const name = json(f[1]);
  const r = LiveContainer.safeParse({
    name: typeof name === "string" ? name.replace(/^\//, "") : name,
    project: json(f[2]),
    service: json(f[3]),
    oneoff: json(f[4]) === "True",
    configHash: json(f[5]),
    image: json(f[6]),
    status: json(f[7]),
    exitCode: /^-?\d+$/.test(f[8] ?? "") ? Number(f[8]) : undefined,
  });
  return r.success ? r.data : undefined;
}
