/** Which repositories of the store a principal sees. */
import { canRead, type Principal } from "../auth/principal.ts";
import type { UiDeps } from "../context.ts";

export async function visibleRepos(deps: UiDeps, principal: Principal): Promise<string[]> {
  return (await deps.store.knownRepos()).filter((r) => canRead(principal, r));
}

export function frameOf(principal: Principal): { who: string; csrf: string | undefined } {
  return {
    who: principal.kind === "token" ? "token holder" : principal.login,
    csrf: principal.session?.csrf,
  };
}
