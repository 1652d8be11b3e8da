/**
 * Is a stack up? Pure judgement over `docker inspect` states: every expected service has a
 * running container, healthy where it has a healthcheck. Argo CD's Healthy/Progressing/Degraded.
 */
import type { ExpectedContainers } from "../state/deployed.ts";
import type { ContainerState } from "./commands/docker.ts";

export type HealthVerdict =
  | { state: "healthy" }
  | { state: "progressing"; waitingFor: string[] }
  | { state: "degraded"; reason: string };

export function judgeHealth(
  containers: readonly ContainerState[],
  services: readonly string[],
): HealthVerdict {
  const waitingFor: string[] = [];
  for (const service of services) {
    const mine = containers.filter((c) => c.service === service);
    if (mine.length === 0) {
      waitingFor.push(`${service} (no container)`);
      continue;
    }
    for (const c of mine) {
      if (c.status === "exited" || c.status === "dead") {
        return {
          state: "degraded",
          reason: `service ${service}: container ${c.name} ${c.status} with code ${c.exitCode}`,
        };
      }
      if (c.health === "unhealthy")
        return { state: "degraded", reason: `service ${service}: container ${c.name} is unhealthy` };
      if (c.status !== "running") waitingFor.push(`${service} (${c.status})`);
      else if (c.health === "starting") waitingFor.push(`${service} (health: starting)`);
    }
  }
  return waitingFor.length ? { state: "progressing", waitingFor } : { state: "healthy" };
}

/**
 * What a healthy release runs, to record with the deploy: per service, the config hash and image
 * id of its containers (not `compose run` ones) and their count. Read from the health poll that judged it healthy, so
 * recording it costs no round trip. A service whose containers disagree (or a docker that shows
 * neither value) records "" there, which no container matches later: drift says so.
 */
export function expectedOf(
  project: string,
  services: readonly string[],
  containers: readonly ContainerState[],
): ExpectedContainers {
  const out: ExpectedContainers["services"] = {};
  for (const service of services) {
    const mine = containers.filter((c) => c.service === service && !c.oneoff);
    const one = (values: (string | undefined)[]) => {
      const set = new Set(values);
      return set.size === 1 ? ([...set][0] ?? "") : "";
    };
    out[service] = {
      configHash: one(mine.map((c) => c.configHash)),
      image: one(mine.map((c) => c.image)),
      containers: mine.length,
    };
  }
  return { project, services: out };
}
