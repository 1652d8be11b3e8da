/** What every UI handler gets, and the UI's dependencies (wired in src/github/server.ts). */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Mirrors, Octokit } from "../github/jobs/jobContext.ts";
import type { Store } from "../state/store.ts";
import type { Principal } from "./auth/principal.ts";
import type { UiSettings } from "./settings.ts";

export interface UiDeps {
  store: Store;
  settings: UiSettings;
  /**
   * The App's Octokit for an installation: Unlock asks GitHub for the user's permission and teams
   * with it, as the PR commands do. Throws while the App is not loaded.
   */
  installation: (installationId: number) => Promise<Octokit>;
  /** Repository mirrors: Unlock reads the default branch's rules from them. */
  mirrors: Mirrors;
  botAllowlist?: readonly string[];
  log: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  /** Live log streams: how often the store is polled, how long one stream lasts, how many at once. */
  live?: { pollMs?: number; maxStreamMs?: number; maxStreams?: number };
}

export interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  deps: UiDeps;
}

export interface Authed extends Request {
  principal: Principal;
}
