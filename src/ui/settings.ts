/**
 * The web UI's settings, from the App's environment (server side only: who may sign in and what
 * the static token may do are never read from a repository).
 */
import type { GitHubHost } from "../github/api/githubHost.ts";
import { compileGlob, globProblem } from "../util/glob.ts";

export interface UiEnv {
  /** The public address of this server; GitHub sends users back to `<url>/ui/auth/callback`. */
  STACKPILOT_UI_URL?: string | undefined;
  /** The GitHub App's OAuth client (Probot's registration flow writes both to .env). */
  GITHUB_CLIENT_ID?: string | undefined;
  GITHUB_CLIENT_SECRET?: string | undefined;
  /** A static token for closed networks: read access to every repository. */
  STACKPILOT_UI_TOKEN?: string | undefined;
  /** Comma-separated repository globs in which the static token may also unlock. */
  STACKPILOT_UI_TOKEN_WRITE?: string | undefined;
  /** `auto` (Secure when the request came over https), `always` or `never`. */
  STACKPILOT_UI_COOKIE_SECURE?: string | undefined;
}

export interface UiSettings {
  github: GitHubHost;
  /** GitHub sign-in, when the App's OAuth client and the public URL are configured. */
  oauth?: { clientId: string; clientSecret: string; callbackUrl: string };
  token?: { value: string; mayWrite: (repo: string) => boolean };
  cookieSecure: "auto" | "always" | "never";
  /** A session lasts this long (a GitHub user token lives 8 hours). */
  sessionTtlMs: number;
  /** What GitHub said a user can read is asked again after this long. */
  accessTtlMs: number;
}

export class UiSettingsError extends Error {
  override name = "UiSettingsError";
}

/** A token shorter than this is refused at start: it would be guessable. */
export const MIN_TOKEN_CHARS = 32;

export function uiSettings(env: UiEnv, github: GitHubHost): UiSettings {
  const secure = env.STACKPILOT_UI_COOKIE_SECURE ?? "auto";
  if (secure !== "auto" && secure !== "always" && secure !== "never")
    throw new UiSettingsError(
      `STACKPILOT_UI_COOKIE_SECURE must be auto, always or never, not ${JSON.stringify(secure)}`,
    );
  return {
    github,
    ...oauthSettings(env),
    ...tokenSettings(env),
    cookieSecure: secure,
    sessionTtlMs: 8 * 60 * 60_000,
    accessTtlMs: 2 * 60_000,
  };
}

function oauthSettings(env: UiEnv): Pick<UiSettings, "oauth"> {
  const { GITHUB_CLIENT_ID: clientId, GITHUB_CLIENT_SECRET: clientSecret, STACKPILOT_UI_URL: url } = env;
  if (!clientId && !clientSecret) return {};
  if (!clientId || !clientSecret)
    throw new UiSettingsError("GitHub sign-in needs both GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET");
  if (!url)
    throw new UiSettingsError("GitHub sign-in needs STACKPILOT_UI_URL (this server's public address)");
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new UiSettingsError(`STACKPILOT_UI_URL is not a URL: ${JSON.stringify(url)}`);
  }
  if (base.protocol !== "https:" && base.protocol !== "http:")
    throw new UiSettingsError("STACKPILOT_UI_URL must be an http(s) address");
  // The UI's links are absolute paths under /ui: it cannot live under a prefix.
  if (base.pathname.replace(/\/+$/, "") !== "" || base.search || base.hash)
    throw new UiSettingsError(
      `STACKPILOT_UI_URL must be an origin such as https://stackpilot.example.com, not ${url}`,
    );
  return { oauth: { clientId, clientSecret, callbackUrl: `${base.origin}/ui/auth/callback` } };
}

function tokenSettings(env: UiEnv): Pick<UiSettings, "token"> {
  const value = env.STACKPILOT_UI_TOKEN;
  const write = (env.STACKPILOT_UI_TOKEN_WRITE ?? "")
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);
  if (!value) {
    if (write.length)
      throw new UiSettingsError("STACKPILOT_UI_TOKEN_WRITE is set but STACKPILOT_UI_TOKEN is not");
    return {};
  }
  if (value.length < MIN_TOKEN_CHARS)
    throw new UiSettingsError(`STACKPILOT_UI_TOKEN must be at least ${MIN_TOKEN_CHARS} characters`);
  for (const g of write) {
    const problem = globProblem(g);
    if (problem) throw new UiSettingsError(`STACKPILOT_UI_TOKEN_WRITE: ${JSON.stringify(g)}: ${problem}`);
  }
  return { token: { value, mayWrite: write.length ? compileGlob(write) : () => false } };
}
