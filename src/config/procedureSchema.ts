/**
 * `procedures:` in `.github/stackpilot.yml`: named, staged runs. Stages run in order; the steps of
 * a stage run in parallel (at most `max_parallel` at once); the first failed stage stops the run
 * (steps already running finish, nothing later starts) unless a step or stage says
 * `continue_on_error`, or a later one runs `if: failure` or `if: always`.
 *
 * Procedures are rules: they are read from the default branch only (src/policy), never from the
 * change being deployed.
 */
import { Cron } from "croner";
import { z } from "zod";
import { StackSelector } from "../procedures/patterns.ts";
import { HostSelector, validGlob } from "./selectors.ts";
import { didYouMean } from "./yamlSource.ts";

export const STEP_KINDS = ["deploy", "build", "rollback", "hook", "sleep", "procedure"] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** Procedure names end up in check-run names, URLs and commands: kept boring. */
export const PROCEDURE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const procedureName = z
  .string()
  .regex(PROCEDURE_NAME, 'procedure names may contain only letters, digits, ".", "_" and "-"')
  .max(100);

/** Shown in tables and check runs only (escaped there); never part of a command. */
const displayName = z.string().min(1).max(100);

/** When a step or stage runs, relative to the earlier stages of its procedure. */
const Conditions = {
  /** Runs only when the triggering range changed a path matching one of these globs. */
  when_modified: z.array(z.string().min(1).max(1024).superRefine(validGlob)).min(1).optional(),
  /** `success` (default): no earlier stage failed; `failure`: one did; `always`: either way. */
  if: z.enum(["success", "failure", "always"]).optional(),
  /** A failure here does not fail the stage (or, on a stage, the run). */
  continue_on_error: z.boolean().optional(),
};

const stackList = z.array(StackSelector).min(1).max(100);
const hostList = z.array(HostSelector).min(1).max(100);
const Seconds = z.number().int().min(1);

const DeployArgs = z.strictObject({
  /** Stacks by glob, `re:` regular expression or labels (default: every stack). */
  stacks: stackList.default(["*"]),
  exclude: z.array(StackSelector).max(100).default([]),
  /** Hosts by glob or labels (default: every host the stack deploys to). */
  hosts: hostList.optional(),
  /** Redeploy where the deployed content is identical (default: deploy only what differs). */
  force: z.boolean().default(false),
});
const BuildArgs = z.strictObject({
  stacks: stackList.default(["*"]),
  exclude: z.array(StackSelector).max(100).default([]),
  /** Build even where an image with the same build inputs exists. */
  force: z.boolean().default(false),
});
const RollbackArgs = z.strictObject({
  stacks: stackList,
  exclude: z.array(StackSelector).max(100).default([]),
  hosts: hostList.optional(),
  /** A retained release (commit); default: the one before the current. */
  to: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/, "a commit SHA")
    .optional(),
});
const HookArgs = z.strictObject({
  /** The command: an argv list (run as it is) or one string (run by `sh -c`). Never interpolated. */
  run: z.union([z.string().min(1).max(4096), z.array(z.string().max(4096)).min(1).max(100)]),
  hosts: hostList,
  /** Seconds before the command is killed and the step fails. */
  timeout: Seconds.max(3600).default(300),
});

const stepSchema = <K extends StepKind, T extends z.ZodType>(kind: K, args: T) =>
  z.strictObject({ name: displayName.optional(), ...Conditions, [kind]: args } as {
    name: z.ZodOptional<typeof displayName>;
  } & typeof Conditions & { [P in K]: T });

const STEP_SCHEMAS = {
  deploy: stepSchema("deploy", DeployArgs),
  build: stepSchema("build", BuildArgs),
  rollback: stepSchema("rollback", RollbackArgs),
  hook: stepSchema("hook", HookArgs),
  /** Seconds to wait (at most an hour). */
  sleep: stepSchema("sleep", Seconds.max(3600)),
  /** Another procedure, run as one step of this stage. */
  procedure: stepSchema("procedure", procedureName),
} as const;

export type DeployStep = z.output<(typeof STEP_SCHEMAS)["deploy"]>;
export type BuildStep = z.output<(typeof STEP_SCHEMAS)["build"]>;
export type RollbackStep = z.output<(typeof STEP_SCHEMAS)["rollback"]>;
export type HookStep = z.output<(typeof STEP_SCHEMAS)["hook"]>;
export type SleepStep = z.output<(typeof STEP_SCHEMAS)["sleep"]>;
export type ProcedureStep = z.output<(typeof STEP_SCHEMAS)["procedure"]>;
export type Step = DeployStep | BuildStep | RollbackStep | HookStep | SleepStep | ProcedureStep;

const COMMON_KEYS = ["name", ...Object.keys(Conditions)];
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * One step: exactly one kind key. The kind is found first, so an unknown kind is said as such
 * ("unknown step kind "deplyo"; did you mean "deploy"?") rather than as a union of every kind's
 * complaints; then that kind's schema checks the rest, its issues at their own paths.
 */
export const StepSchema = z.unknown().transform((value, ctx): Step => {
  if (!isObject(value)) {
    ctx.addIssue({ code: "custom", message: `a step is a mapping with one of: ${STEP_KINDS.join(", ")}` });
    return z.NEVER;
  }
  const kinds = STEP_KINDS.filter((k) => k in value);
  if (kinds.length !== 1) {
    const other = Object.keys(value).find(
      (k) => !COMMON_KEYS.includes(k) && !STEP_KINDS.includes(k as StepKind),
    );
    const hint = other ? didYouMean(other, STEP_KINDS) : undefined;
    ctx.addIssue({
      code: "custom",
      path: other && kinds.length === 0 ? [other] : [],
      message:
        kinds.length > 1
          ? `a step has one kind, this one has ${kinds.join(" and ")}: make them separate steps`
          : other
            ? `unknown step kind "${other}"${hint ? `; did you mean "${hint}"?` : ""} (kinds: ${STEP_KINDS.join(", ")})`
            : `a step needs one of: ${STEP_KINDS.join(", ")}`,
    });
    return z.NEVER;
  }
  const kind = kinds[0] as StepKind;
  const parsed = STEP_SCHEMAS[kind].safeParse(value);
  if (parsed.success) return parsed.data as Step;
  for (const issue of parsed.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const known = issue.path.length === 0 ? [...COMMON_KEYS, kind] : knownArgs(kind);
        const hint = didYouMean(key, known);
        ctx.addIssue({
          code: "custom",
          path: [...issue.path, key],
          message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ""}`,
        });
      }
    } else ctx.addIssue({ code: "custom", path: [...issue.path], message: issue.message });
  }
  return z.NEVER;
});

function knownArgs(kind: StepKind): string[] {
  const args = { deploy: DeployArgs, build: BuildArgs, rollback: RollbackArgs, hook: HookArgs }[
    kind as "deploy"
  ];
  return args ? Object.keys(args.shape) : [];
}

/** The step's kind (the one kind key it has). */
export function stepKind(step: Step): StepKind {
  return STEP_KINDS.find((k) => k in step) as StepKind;
}

export const StageSchema = z.strictObject({
  name: displayName,
  steps: z.array(StepSchema).min(1).max(100),
  /** Steps of this stage running at once (default: all). */
  max_parallel: z.number().int().min(1).max(100).optional(),
  ...Conditions,
});
export type Stage = z.output<typeof StageSchema>;

/** A cron pattern as croner reads it (5 fields, or 6 with seconds). */
function cronProblem(pattern: string): string | undefined {
  try {
    new Cron(pattern, { paused: true }).stop();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export const ProcedureSchema = z
  .strictObject({
    description: z.string().max(1000).optional(),
    /** `push`: run on every push to the default branch (after its plan). */
    on: z
      .union([z.literal("push"), z.array(z.literal("push")).max(1)])
      .transform((v) => (typeof v === "string" ? [v] : v))
      .optional(),
    /** Cron (`0 4 * * *`); one replica runs each slot. */
    schedule: z
      .string()
      .max(100)
      .superRefine((pattern, ctx) => {
        const why = cronProblem(pattern);
        if (why) ctx.addIssue({ code: "custom", message: `invalid cron schedule: ${why}` });
      })
      .optional(),
    /** IANA time zone of `schedule` (default UTC). */
    timezone: z
      .string()
      .max(64)
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat("en", { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, "not an IANA time zone (e.g. Europe/Berlin)")
      .optional(),
    stages: z.array(StageSchema).min(1).max(50),
  })
  .superRefine((p, ctx) => {
    if (p.timezone && !p.schedule)
      ctx.addIssue({
        code: "custom",
        path: ["timezone"],
        message: "timezone applies to schedule, which is not set",
      });
  });
export type Procedure = z.output<typeof ProcedureSchema>;

/** Names are checked by procedureChecks.ts, which can say what is wrong with one (zod says "Invalid key"). */
export const ProceduresSchema = z.record(z.string(), ProcedureSchema).default({});
