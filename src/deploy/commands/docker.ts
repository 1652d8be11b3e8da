/** Plain `docker` commands for inspecting what compose created. Pure argv builders and parsers. */
import { z } from "zod";
import { type Argv, script } from "../shell.ts";

/** Containers of a compose project, found by the label both compose versions set. */
export const projectContainers = (project: string): Argv => [
  "docker",
  "ps",
  "--all",
  "--quiet",
  "--no-trunc",
  "--filter",
  `label=com.docker.compose.project=${project}`,
];

/**
 * One tab-separated line per container. `.State` as JSON: depending on the docker CLI version the
 * template sees a struct or a map, and only `json` reads an absent `Health` the same in both.
 * The compose config hash, the image id and whether `compose run` made it come last: a deploy
 * records the first two of its service containers from its final health poll, and drift
 * detection compares what runs later against them (deploy/liveState.ts). `with` prints nothing
 * for a missing label (a bare `index` prints `<no value>`).
 */
const LINE_FORMAT =
  '{{.Id}}\t{{.Name}}\t{{index .Config.Labels "com.docker.compose.service"}}\t{{json .State}}' +
  '\t{{with index .Config.Labels "com.docker.compose.config-hash"}}{{.}}{{end}}\t{{.Image}}' +
  '\t{{with index .Config.Labels "com.docker.compose.oneoff"}}{{.}}{{end}}';

const RawState = z.object({
  Status: z.string(),
  ExitCode: z.number().int(),
  Health: z.object({ Status: z.string() }).nullish(),
});

export const inspectContainers = (ids: readonly string[]): Argv => [
  "docker",
  "inspect",
  "--format",
  LINE_FORMAT,
  "--",
  ...ids,
];

/**
 * The health poll in one round trip: the project's containers (`projectContainers`), inspected
 * (`inspectContainers`) when there are any. Prints `inspectContainers` lines; nothing when the
 * project has no container.
 */
export const projectContainerStates = (project: string): Argv =>
  script(
    'ids=$(docker ps --all --quiet --no-trunc --filter "label=com.docker.compose.project=$1") || exit; ' +
      '[ -z "$ids" ] || { set -f; exec docker inspect --format "$2" -- $ids; }',
    project,
    LINE_FORMAT,
  );

export const ContainerState = z.object({
  id: z.string().regex(/^[0-9a-f]{12,64}$/),
  name: z.string(),
  service: z.string(),
  status: z.enum(["created", "running", "paused", "restarting", "removing", "exited", "dead"]),
  exitCode: z.coerce.number().int(),
  /** "" when the container has no healthcheck. */
  health: z.enum(["", "starting", "healthy", "unhealthy"]),
  /** Compose's `com.docker.compose.config-hash` label (both versions set it). */
  configHash: z
    .string()
    .regex(/^[0-9a-f]{0,128}$/)
    .optional(),
  /** The image id the container was created from (`sha256:...`). */
  image: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
  /** Made by `compose run`, not by the project's services. */
  oneoff: z.boolean().optional(),
});
export type ContainerState = z.infer<typeof ContainerState>;

/** Host replies are input from outside: validate every line, fail on garbage. */
export function parseInspect(stdout: string): ContainerState[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((line, i) => {
      const [id, name, service, stateJson, configHash, image, oneoff] = line.split("\t");
      const state = RawState.safeParse(safeJson(stateJson));
      const parsed = ContainerState.safeParse({
        id,
        name: name?.replace(/^\//, ""),
        service,
        status: state.data?.Status,
        exitCode: state.data?.ExitCode,
        health: state.data?.Health?.Status ?? "",
        ...(configHash ? { configHash } : {}),
        ...(image ? { image } : {}),
        ...(oneoff ? { oneoff: oneoff === "True" } : {}),
      });
      if (!parsed.success)
        throw new Error(
          `unexpected docker inspect output, line ${i + 1}: ${JSON.stringify(line.slice(0, 200))}`,
        );
      return parsed.data;
    });
}

export const dockerVersion = (): Argv => ["docker", "version", "--format", "{{.Server.Version}}"];

function safeJson(text: string | undefined): unknown {
  try {
    return JSON.parse(text ?? "");
  } catch {
    return undefined;
  }
}
