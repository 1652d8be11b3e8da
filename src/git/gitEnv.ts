/**
 * The environment every git process runs in: nothing inherited may point git at another
 * repository, trace what it sends, or ask a human for a password; config the caller adds (the
 * token's header) goes through GIT_CONFIG_COUNT, never argv or a file.
 */

/** Variables that would point git elsewhere, print secrets, or ask a human for them. */
export const DROPPED_ENV = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
  "GIT_ASKPASS",
  "SSH_ASKPASS",
  "GIT_TRACE",
  "GIT_TRACE_CURL",
  "GIT_TRACE_PACKET",
  "GIT_CURL_VERBOSE",
] as const;

export interface GitEnvOptions {
  /** GIT_DIR: git works on exactly this repository, never one found by walking up from cwd. */
  gitDir?: string | undefined;
  /**
   * GIT_WORK_TREE: with `gitDir`, what git takes as the work tree instead of the repository's
   * `core.worktree` (a submodule's clone in `.git/modules/` names one that may be gone).
   */
  workTree?: string | undefined;
  /** `[key, value]` config entries, e.g. secrets.ts `tokenConfig`. */
  config?: readonly (readonly [string, string])[];
}

/**
 * `base` cleaned for git: DROPPED_ENV removed, prompts off, credential helpers off (nothing can
 * store a token, nothing else is offered on a 401), the caller's config added after any the
 * environment already sets.
 */
export function gitEnv(base: NodeJS.ProcessEnv, opts: GitEnvOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of DROPPED_ENV) delete env[name];
  if (opts.gitDir) env.GIT_DIR = opts.gitDir;
  if (opts.gitDir && opts.workTree) env.GIT_WORK_TREE = opts.workTree;
  env.GIT_TERMINAL_PROMPT = "0";
  env.GCM_INTERACTIVE = "never";
  env.GIT_TRACE_REDACT = "1";
  const pairs: (readonly [string, string])[] = [["credential.helper", ""], ...(opts.config ?? [])];
  const existing = Number(env.GIT_CONFIG_COUNT);
  let n = Number.isInteger(existing) && existing > 0 ? existing : 0;
  for (const [key, value] of pairs) {
    env[`GIT_CONFIG_KEY_${n}`] = key;
    env[`GIT_CONFIG_VALUE_${n}`] = value;
    n++;
  }
  env.GIT_CONFIG_COUNT = String(n);
  return env;
}
