/**
 * The App's environment (`npm start`): every variable it reads, with what it means and its
 * default, checked at start-up so a wrong value stops the start naming the variable.
 */
import { z } from "zod";
import { uiSettings } from "../ui/settings.ts";
import { githubHost } from "./api/githubHost.ts";

const Env = z.object({
  NODE_ENV: z.string().optional(),
  APP_ID: z.string().optional(),
  PRIVATE_KEY: z.string().optional(),
  PRIVATE_KEY_PATH: z.string().optional(),
  WEBHOOK_SECRET: z.string().min(1).optional(),
  DATABASE_URL: z.string().optional(),
  STACKPILOT_DATA_DIR: z.string().default(".stackpilot"),
  STACKPILOT_HOSTS_FILE: z.string().optional(),
  /** The app's slug (`@slug deploy`); read from GitHub when not set. */
  STACKPILOT_APP_SLUG: z.string().optional(),
  STACKPILOT_MIRROR_BUDGET_MB: z.coerce.number().positive().default(10_240),
  STACKPILOT_WORKERS: z.coerce.number().int().positive().default(4),
  /** Seconds a plan may take (in its own thread) before it is stopped and fails naming its stack. */
  STACKPILOT_PLAN_BUDGET_S: z.coerce.number().positive().default(30),
  /** Files Stackpilot parses from a repository (config, compose, .env) larger than this are refused. */
  STACKPILOT_MAX_FILE_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  STACKPILOT_BOT_ALLOWLIST: z.string().default(""),
  /** Opens GET /api/runs/ID for any run (a trigger's secret opens that trigger's runs). */
  STACKPILOT_API_TOKEN: z.string().min(16).optional(),
  /** Where the App is reached, for the run URLs triggers answer with (default: the request's Host). */
  STACKPILOT_PUBLIC_URL: z.url().optional(),
  /** `1`: start without WEBHOOK_SECRET, accepting the secret `development` (never in production). */
  STACKPILOT_INSECURE_DEVELOPMENT: z.string().optional(),
  /** GitHub Enterprise Server (Probot's variables): API calls and git clones go there only. */
  GHE_HOST: z.string().optional(),
  GHE_PROTOCOL: z.string().optional(),
  /** When set, `/metrics` wants `Authorization: Bearer <token>`. */
  STACKPILOT_METRICS_TOKEN: z.string().min(1).optional(),
  /** The web UI (src/ui/settings.ts): GitHub sign-in, the static token, cookies. */
  STACKPILOT_UI_URL: z.string().optional(),
  GITHUB_CLIENT_ID: z.string().optional(),
  GITHUB_CLIENT_SECRET: z.string().optional(),
  STACKPILOT_UI_TOKEN: z.string().optional(),
  STACKPILOT_UI_TOKEN_WRITE: z.string().optional(),
  STACKPILOT_UI_COOKIE_SECURE: z.string().optional(),
  HOST: z.string().default("localhost"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
});
export type StackpilotEnv = z.infer<typeof Env>;

/** The app's environment, validated (defaults filled in). */
export function parseEnv(raw: NodeJS.ProcessEnv | Record<string, string | undefined>): StackpilotEnv {
  const env = Env.parse(raw);
  // Throw, naming the variable, when GHE_HOST or GHE_PROTOCOL or a UI setting is wrong.
  uiSettings(env, githubHost(env));
  return env;
}

/** The bots whose commands are heeded (STACKPILOT_BOT_ALLOWLIST, comma-separated); other bots are ignored. */
export function botAllowlist(env: Pick<StackpilotEnv, "STACKPILOT_BOT_ALLOWLIST">): string[] {
  return env.STACKPILOT_BOT_ALLOWLIST.split(",").filter(Boolean);
}

/**
 * The webhook secret: required, unless `STACKPILOT_INSECURE_DEVELOPMENT=1` says this is a
 * throwaway development setup (then the well-known secret `development`, said loudly).
 */
export function webhookSecret(env: StackpilotEnv, warn: (msg: string) => void): string {
  if (env.WEBHOOK_SECRET) return env.WEBHOOK_SECRET;
  if (env.STACKPILOT_INSECURE_DEVELOPMENT !== "1")
    throw new Error(
      "WEBHOOK_SECRET is required: without it, anyone could send webhooks (for a throwaway development setup only, STACKPILOT_INSECURE_DEVELOPMENT=1 accepts the secret `development`)",
    );
  warn(
    "no WEBHOOK_SECRET: accepting webhooks signed with the secret `development` (STACKPILOT_INSECURE_DEVELOPMENT=1)",
  );
  return "development";
}
