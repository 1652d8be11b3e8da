/**
 * GitHub deployments and their statuses, so the PR and the repository's Environments page show
 * what was deployed where. They record; they do not gate: GitHub's environment protection rules
 * do not apply to deployments created through the API, so `authorize.ts` decides beforehand.
 *
 * The Octokit client is passed in; its `baseUrl` decides which GitHub is talked to.
 */

/** GitHub's limit for deployment and status descriptions. */
export const DESCRIPTION_LIMIT = 140;

export type DeploymentState = "queued" | "in_progress" | "success" | "failure" | "error" | "inactive";

export interface DeploymentsClient {
  rest: {
    repos: {
      createDeployment(params: {
        owner: string;
        repo: string;
        ref: string;
        task?: string;
        auto_merge?: boolean;
        required_contexts?: string[];
        payload?: { [key: string]: unknown } | string;
        environment?: string;
        description?: string | null;
        transient_environment?: boolean;
        production_environment?: boolean;
      }): Promise<{ status: number; data: { id?: number; message?: string } }>;
      createDeploymentStatus(params: {
        owner: string;
        repo: string;
        deployment_id: number;
        state: DeploymentState;
        description?: string;
        log_url?: string;
        environment_url?: string;
        environment?: string;
        auto_inactive?: boolean;
      }): Promise<{ data: { id: number } }>;
    };
  };
}

export interface CreateDeploymentInput {
  owner: string;
  repo: string;
  /** The commit deployed: a full SHA, never a branch (branches move). */
  sha: string;
  environment: string;
  description: string;
  /** Shown to other integrations; e.g. `{stacks, hosts, actor, planId}`. Keep secrets out. */
  payload?: Record<string, unknown>;
  /** Defaults to `deploy`; e.g. `deploy:rollback`. */
  task?: string;
  /** A preview environment that goes away (GitHub marks it inactive after a newer one). */
  transient?: boolean;
  /** Whether end users interact with it; GitHub's default is true only for `production`. */
  production?: boolean;
}

/** Thrown when GitHub answers without creating a deployment (e.g. 202 after an auto-merge). */
export class DeploymentNotCreatedError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "DeploymentNotCreatedError";
    this.status = status;
  }
}

/** Create the deployment; returns its id. */
export async function createDeployment(
  octokit: DeploymentsClient,
  input: CreateDeploymentInput,
): Promise<number> {
  const res = await octokit.rest.repos.createDeployment({
    owner: input.owner,
    repo: input.repo,
    ref: input.sha,
    task: input.task ?? "deploy",
    // Never merge the default branch into the ref, and never wait for other status checks:
    // what was planned and approved is exactly what is deployed.
    auto_merge: false,
    required_contexts: [],
    environment: input.environment,
    description: truncateDescription(input.description),
    payload: input.payload ?? {},
    ...(input.transient === undefined ? {} : { transient_environment: input.transient }),
    ...(input.production === undefined ? {} : { production_environment: input.production }),
  });
  if (typeof res.data.id !== "number")
    throw new DeploymentNotCreatedError(
      res.status,
      `GitHub did not create a deployment (HTTP ${res.status}): ${res.data.message ?? "no reason given"}`,
    );
  return res.data.id;
}

export interface DeploymentStatusInput {
  owner: string;
  repo: string;
  deployment_id: number;
  state: DeploymentState;
  /** Truncated to 140 characters. */
  description: string;
  /** Where the deploy's log can be read (e.g. the check run). */
  logUrl?: string;
  /** Where the deployed environment can be reached (the environment's `url`). */
  environmentUrl?: string;
  /** On success, GitHub marks older deployments of the environment inactive unless false. */
  autoInactive?: boolean;
}

export async function setDeploymentStatus(
  octokit: DeploymentsClient,
  input: DeploymentStatusInput,
): Promise<number> {
  const { data } = await octokit.rest.repos.createDeploymentStatus({
    owner: input.owner,
    repo: input.repo,
    deployment_id: input.deployment_id,
    state: input.state,
    description: truncateDescription(input.description),
    ...(input.logUrl ? { log_url: input.logUrl } : {}),
    ...(input.environmentUrl ? { environment_url: input.environmentUrl } : {}),
    ...(input.autoInactive === undefined ? {} : { auto_inactive: input.autoInactive }),
  });
  return data.id;
}

/**
 * One line of at most 140 UTF-16 units (so at most 140 characters however GitHub counts),
 * ending in "…" when cut, never splitting a surrogate pair.
 */
export function truncateDescription(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  if (line.length <= DESCRIPTION_LIMIT) return line;
  let end = DESCRIPTION_LIMIT - 1;
  const code = line.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${line.slice(0, end)}…`;
}
