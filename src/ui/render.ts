/**
 * Pages from Eta templates (views/): every `<%= %>` interpolation is escaped by Eta (& < > " '),
 * so untrusted text (stack and host names, commit subjects, logs, logins) is text wherever it
 * lands, attribute values included; `<%~ %>` (raw) is used only for a view's rendered HTML inside
 * the layout. Templates are compiled once, from memory (eta/core reads no files).
 */
import { Eta } from "eta/core";
import { ASSET_URLS } from "./static.ts";
import { type DeploymentData, deployment } from "./views/deployment.ts";
import { type DeploymentsData, deployments } from "./views/deployments.ts";
import { type LayoutData, layout } from "./views/layout.ts";
import { type LocksData, locks } from "./views/locks.ts";
import { type LoginData, login } from "./views/login.ts";
import { type MatrixData, matrix } from "./views/matrix.ts";
import { type MessageData, message } from "./views/message.ts";
import { type RunData, run } from "./views/run.ts";
import { type RunsData, runs } from "./views/runs.ts";

interface Views {
  matrix: MatrixData;
  deployment: DeploymentData;
  deployments: DeploymentsData;
  locks: LocksData;
  login: LoginData;
  message: MessageData;
  runs: RunsData;
  run: RunData;
}

const eta = new Eta({ autoEscape: true, autoTrim: [false, "nl"], cache: true });
eta.loadTemplate("@layout", layout);
const TEMPLATES: { [K in keyof Views]: string } = {
  matrix,
  deployment,
  deployments,
  locks,
  login,
  message,
  runs,
  run,
};
for (const [name, text] of Object.entries(TEMPLATES)) eta.loadTemplate(`@${name}`, text);

export interface PageFrame {
  title: string;
  who?: string | undefined;
  csrf?: string | undefined;
  live?: boolean;
  refreshS?: number;
}

/** A whole page: the view rendered with its data, inside the layout. */
export function renderPage<K extends keyof Views>(view: K, data: Views[K], frame: PageFrame): string {
  const body = eta.render(`@${view}`, data);
  const layoutData: LayoutData = {
    title: frame.title,
    css: ASSET_URLS.css,
    icon: ASSET_URLS.icon,
    js: frame.live ? ASSET_URLS.js : undefined,
    refreshS: frame.refreshS,
    who: frame.who,
    csrf: frame.csrf,
    body,
  };
  return eta.render("@layout", layoutData);
}
