/**
 * Is a stack up? Pure judgement over `docker inspect` states: every expected service has a
 * running container, healthy where it has a healthcheck. Argo CD's Healthy/Progressing/Degraded.
 */
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
