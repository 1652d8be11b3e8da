import type { loadRepoConfig as LoadRepoConfig } from "../../src/config/repoConfig.ts";

/** See baselineA.js. */
export function makeBaselineA(
  dir: string,
  base: string,
  head: string,
  configText: string,
  loadRepoConfig: typeof LoadRepoConfig,
): () => Promise<{ changes: number }>;
