/**
 * Globs and host selectors shared by the repository config's schemas (repoConfigSchema.ts,
 * procedureSchema.ts): in a module of their own so that neither schema imports the other.
 */
import { z } from "zod";
import { globProblem } from "../util/glob.ts";

/** Stack, environment and host names end up in paths and remote commands: keep them boring. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Refuses a glob the matcher cannot take (extglobs, brace ranges...), with the reason. */
export const validGlob = (value: string, ctx: z.RefinementCtx): void => {
  const why = globProblem(value);
  if (why) ctx.addIssue({ code: "custom", message: `invalid glob: ${why}` });
};

/** A host name, or a label selector such as `{role: edge}` (every label must match). */
export const HostSelector = z.union([
  z
    .string()
    .regex(
      /^[A-Za-z0-9.*?_-]+$/,
      "host names may contain only letters, digits, `.`, `_`, `-` and the globs `*` `?`",
    )
    .superRefine(validGlob),
  z.record(z.string().regex(SAFE_NAME), z.string()),
]);
export type HostSelector = z.infer<typeof HostSelector>;
