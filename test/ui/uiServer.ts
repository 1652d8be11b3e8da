/**
 * The web UI on a real loopback HTTP server over a real store, for the UI's tests: fetch as a
 * browser would (cookies kept by a small jar), forms posted as browsers post them.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Octokit } from "@octokit/rest";
import type { GitHubHost } from "../../src/github/api/githubHost.ts";
import type { Octokit as AppOctokit, Mirrors } from "../../src/github/jobs/jobContext.ts";
import type { Store } from "../../src/state/store.ts";
import type { UiDeps } from "../../src/ui/context.ts";
import { createUi, type UiRoute } from "../../src/ui/router.ts";
import { type UiEnv, uiSettings } from "../../src/ui/settings.ts";

export const TOKEN = "t".repeat(40);

export interface UiServer {
  url: string;
  ui: UiRoute;
  logged: string[];
  close(): Promise<void>;
}

export async function startUi(opts: {
  store: Store;
  github: GitHubHost;
  env?: UiEnv;
  mirrors?: Mirrors;
  installationToken?: string;
  deps?: Partial<UiDeps>;
  accessTtlMs?: number;
}): Promise<UiServer> {
  const logged: string[] = [];
  const settings = uiSettings({ STACKPILOT_UI_TOKEN: TOKEN, ...opts.env }, opts.github);
  if (opts.accessTtlMs !== undefined) settings.accessTtlMs = opts.accessTtlMs;
  const ui = createUi({
    store: opts.store,
    settings,
    installation: async () =>
      new Octokit({
        baseUrl: opts.github.apiUrl,
        auth: opts.installationToken ?? "ghs_installation",
      }) as unknown as AppOctokit,
    mirrors: opts.mirrors ?? {
      ensure: () => Promise.reject(new Error("no mirrors in this test")),
    },
    log: { info: (m) => logged.push(m), warn: (m) => logged.push(m), error: (m) => logged.push(m) },
    live: { pollMs: 50 },
    ...opts.deps,
  });
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    void Promise.resolve(ui.handle(req, res, path)).then((claimed) => {
      if (!claimed) res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ui,
    logged,
    close: () =>
      new Promise<void>((resolve) => {
        ui.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A client that keeps cookies like a browser (one origin), and never follows redirects. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.#send(path, { headers });
  }

  async post(
    path: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return this.#send(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(form).toString(),
    });
  }

  async #send(path: string, init: RequestInit): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(`${this.base}${path}`, {
      ...init,
      redirect: "manual",
      headers: {
        accept: "text/html",
        ...(cookie ? { cookie } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair?.indexOf("=") ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Signs in with the static token through the login form (as a browser would). */
  async signInWithToken(token = TOKEN): Promise<Response> {
    const page = await (await this.get("/ui/login")).text();
    return this.post("/ui/auth/token", { csrf: hiddenValue(page, "csrf"), token, next: "/ui" });
  }
}

/** The value of a hidden input in a page (attribute-escaped by the templates). */
export function hiddenValue(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m?.[1]) throw new Error(`no hidden ${name} in the page`);
  return m[1];
}
