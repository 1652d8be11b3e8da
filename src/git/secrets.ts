/**
 * How the installation token reaches git, and how it is kept out of everything else: it travels
 * as an `http.<origin>.extraHeader` set through the environment (gitEnv.ts), so it is in neither
 * argv nor any config file and is sent to that origin only; every text git prints is redacted.
 */

/** `x-access-token:<token>` in base64: the Basic credentials GitHub takes for git over HTTPS. */
export const basicAuth = (token: string): string => Buffer.from(`x-access-token:${token}`).toString("base64");

/** The git config entry that sends the token to `origin` (`scheme://host[:port]/`) and nowhere else. */
export function tokenConfig(origin: string, token: string): [string, string] {
  return [`http.${origin}.extraHeader`, `Authorization: Basic ${basicAuth(token)}`];
}

/** Removes tokens (raw, URL-encoded, and inside a Basic header) and anything credential-shaped. */
export function redact(text: string, tokens: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const token of tokens) {
    if (!token) continue;
    for (const form of [
      basicAuth(token),
      token,
      encodeURIComponent(token),
      Buffer.from(token).toString("base64"),
    ])
      out = out.split(form).join("***");
  }
  return out
    .replace(/(authorization:\s*(?:basic|bearer|token)\s+)\S+/gi, "$1***")
    .replace(/(https?:\/\/)[^/@\s]+@/gi, "$1***@")
    .replace(/\bgh[pousr]_[A-Za-z0-9_]{16,}/g, "gh*_***");
}
