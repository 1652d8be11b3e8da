/**
 * `triggers:` in the hosts file (server side): one endpoint, `POST /triggers/NAME`, per trigger.
 * A trigger names the repository and branch it runs, the procedure (or none: deploy what
 * changed), its secret by reference (an HMAC key for `X-Hub-Signature-256`, or a bearer token),
 * and filters, all optional and combined with AND.
 */
import { z } from "zod";
import { StackSelector } from "../procedures/patterns.ts";
import { PROCEDURE_NAME } from "./procedureSchema.ts";
import { REPO_NAME } from "./repoConfigSchema.ts";
import { SecretRef } from "./secretRef.ts";
import { HostSelector, SAFE_NAME, validGlob } from "./selectors.ts";

const glob = z.string().min(1).max(1024).superRefine(validGlob);
/** A branch name as git allows it, without anything a shell or a URL would read specially. */
const BRANCH = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,200}$/;

export const TriggerSchema = z.strictObject({
  /** The endpoint is `/triggers/<name>`. */
  name: z
    .string()
    .regex(SAFE_NAME, 'trigger names may contain only letters, digits, ".", "_" and "-"')
    .max(100),
  /** `owner/name` of the repository whose procedure runs. */
  repository: z.string().regex(REPO_NAME, "owner/name"),
  /** The branch it runs (default: the repository's default branch). */
  branch: z.string().regex(BRANCH, "a branch name").optional(),
  /** The procedure it runs (from the default branch's config); without one: deploy what changed. */
  procedure: z.string().regex(PROCEDURE_NAME).max(100).optional(),
  /** The HMAC key (X-Hub-Signature-256) or bearer token, by reference: `{ env }` or `{ file }`. */
  secret: SecretRef,
  /** Only these stacks are deployed (glob, `re:` or labels). */
  stacks: z.array(StackSelector).min(1).optional(),
  /** Only these hosts (glob or labels). */
  hosts: z.array(HostSelector).min(1).optional(),
  /** A push payload's repository (`owner/name` globs) must match; default: `repository`. */
  repositories: z.array(glob).min(1).optional(),
  /** A push payload's branch must match (globs); default: `branch`. */
  branches: z.array(glob).min(1).optional(),
  /** Changed-file globs: a pushed range touching none of them runs nothing. */
  paths: z.array(glob).min(1).optional(),
});
export type TriggerConfig = z.output<typeof TriggerSchema>;
