/** Which repositories of the store a principal sees. */
import { canRead, type Principal } from "../auth/principal.ts";
import type { UiDeps } from "../context.ts";

export async function visibleRepos(deps: UiDeps, principal: Principal): Promise<string[]> {
  return (await deps.store.knownRepos()).filter((r) => canRead(principal, r));
}

/** The first `limit` of `items` the principal can read (a list asked for more than it shows). */
export function readable<T extends { repo: string }>(
  items: readonly T[],
  principal: Principal,
  limit: number,
): T[] {
  return items.filter((x) => canRead(principal, x.repo)).slice(0, limit);
}

export function frameOf(principal: Principal): { who: string; csrf: string | undefined } {
  return {
    who: principal.kind === "token" ? "token holder" : principal.login,
    csrf: principal.session?.csrf,
  };
}
