/**
 * `.github/stackpilot.yml`: the schema, with one line of documentation per field.
 * Hosts appear here only by name or labels; addresses and credentials live server-side.
 */
import { z } from "zod";
import { Duration } from "./duration.ts";
import { ProceduresSchema } from "./procedureSchema.ts";
import { HostSelector, SAFE_NAME, validGlob } from "./selectors.ts";

export { HostSelector, SAFE_NAME, validGlob };

export const CONFIG_PATH = ".github/stackpilot.yml";

/** Compose project names: lowercase letters, digits, `_` and `-`, starting with a letter or digit. */
export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const name = (what: string) =>
  z.string().regex(SAFE_NAME, `${what} may contain only letters, digits, ".", "_" and "-"`).max(100);

/** A repo-relative path or glob. Checked for `..`, absolute paths and symlinks after parsing. */
const repoPath = z.string().min(1).max(1024);

const repoGlob = repoPath.superRefine(validGlob);

/** A Docker image tag. */
const ImageTag = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
    "an image tag: letters, digits, _ . - (not first), up to 128",
  );

/** When a hook runs in a deploy (src/deploy/hookSteps.ts). */
export const HOOK_NAMES = ["post_sync", "pre_deploy", "post_deploy", "on_failure"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Bounds of a hook's settings: a hook runs on production hosts, so nothing unbounded. */
export const HOOK_LIMITS = {
  timeoutS: { min: 1, max: 3600 },
  retries: { max: 10 },
  backoffS: { max: 600 },
  /** Elements of a `run` argv, and characters of all of them together. */
  argvItems: 256,
  argvChars: 16_384,
} as const;

/** Whole seconds: `30s`, `5m`, `1h`, or a number of seconds. */
const seconds = (what: string, min: number, max: number) =>
  z
    .union([
      z.number().int(`${what} must be whole seconds`),
      z.string().regex(/^\d{1,7}[smh]$/, `${what} must look like 30s, 5m or 1h`),
    ])
    .transform((v) =>
      typeof v === "number" ? v : Number(v.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[v.slice(-1) as "s"],
    )
    .pipe(
      z
        .number()
        .min(min, `${what} must be at least ${min} s`)
        .max(max, `${what} must be at most ${max} s (${max / 60} min)`),
    );

/**
 * One hook: a command run on the target host in the new release (src/deploy/hookSteps.ts). Either
 * `run`, an argv run as it is (no shell: use `[sh, -c, "..."]` for one), or `script`, a file of
 * the repository (repo-relative, committed executable) run as itself; it ships with the release.
 */
export const HookSchema = z
  .strictObject({
    /** The command as an argv, run verbatim in the stack's directory of the release. */
    run: z
      .array(
        z
          .string()
          .min(1, "an argv element may not be empty")
          .refine((a) => !a.includes("\0"), "an argv element may not contain a NUL character"),
      )
      .min(1)
      .max(HOOK_LIMITS.argvItems)
      .refine(
        (argv) => argv.join("").length <= HOOK_LIMITS.argvChars,
        `run may hold at most ${HOOK_LIMITS.argvChars} characters in all`,
      )
      .optional(),
    /** A repo-relative path of an executable file (mode 100755 in git), run as itself. */
    script: z.string().min(1).max(1024).optional(),
    /** Killed (its whole process group on the host) after this long; per attempt. */
    timeout: seconds("timeout", HOOK_LIMITS.timeoutS.min, HOOK_LIMITS.timeoutS.max).default(30),
    /** Further attempts after a failure or a timeout. */
    retries: z.number().int().min(0).max(HOOK_LIMITS.retries.max).default(0),
    /** Wait between attempts. */
    backoff: seconds("backoff", 0, HOOK_LIMITS.backoffS.max).default(3),
    /** `false`: a failure is a warning and the deploy goes on (on_failure never fails a deploy). */
    required: z.boolean().default(true),
  })
  .superRefine((h, ctx) => {
    if (h.run === undefined && h.script === undefined)
      ctx.addIssue({
        code: "custom",
        message: "a hook needs `run` (an argv) or `script` (a path in the repository)",
      });
    else if (h.run !== undefined && h.script !== undefined)
      ctx.addIssue({ code: "custom", path: ["script"], message: "a hook has `run` or `script`, not both" });
  });
export type HookConfig = z.output<typeof HookSchema>;

/** Commands run on the target host around a deploy, by when they run. */
export const HooksSchema = z.strictObject({
  /** After the release is uploaded, before `current` is switched to it. */
  post_sync: HookSchema.optional(),
  /** Before `compose up` (and before the switch): a failure leaves the running release alone. */
  pre_deploy: HookSchema.optional(),
  /** After the new release is healthy: a failure rolls back, as a failed health check does. */
  post_deploy: HookSchema.optional(),
  /** After a deploy failed (and was rolled back); never changes the deploy's outcome. */
  on_failure: HookSchema.optional(),
});
export type HooksConfig = z.output<typeof HooksSchema>;

export const Permission = z.enum(["read", "triage", "write", "maintain", "admin"]);
export type Permission = z.infer<typeof Permission>;

const DAY_MS = 86_400_000;

/**
 * Drift detection (`drift: { every: 10m, heal: false }`): a rule, read from the default branch
 * only, since healing deploys. `false` on a stack turns off what its environment sets.
 */
export const DriftSchema = z.union([
  z.literal(false),
  z.strictObject({
    /** How often each (stack, host) is compared with its record: from 30s (the App's round) to 7d. */
    every: Duration({ min: 30_000, max: 7 * DAY_MS }).default(600_000),
    /** Redeploy the recorded release (never the newest commit) where a target drifted. */
    heal: z.boolean().default(false),
    /** Heals per target within `heal_window`; past it, healing gives up until the window allows one. */
    max_heals: z.number().int().min(1).max(100).default(3),
    heal_window: Duration({ min: 60_000, max: 7 * DAY_MS }).default(3_600_000),
  }),
]);
export type DriftConfig = z.output<typeof DriftSchema>;
export type DriftSettings = Exclude<DriftConfig, false>;

export const EnvironmentSchema = z.strictObject({
  /** Hosts this environment deploys to, by name or label selector. */
  hosts: z.array(HostSelector).default([]),
  /** `merge`: deploy when the default branch moves. `command`: only on `/deploy`. */
  deploy_on: z.enum(["merge", "command"]).default("command"),
  /** Conditions a PR must meet before `/deploy` to this environment. */
  requires: z.array(z.enum(["approved"])).default([]),
  /** Minimum repository permission of whoever asks for a deploy. */
  permission: Permission.default("write"),
  /** Alternatively, members of any of these teams (`org/team` slugs) may deploy. */
  teams: z.array(z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/)).default([]),
  /** Branch whose pushes deploy to this environment (default: the repository's default branch). */
  branch: z.string().optional(),
  /** Shown as the deployment's environment_url. */
  url: z.url().optional(),
  /** Drift detection and self-heal for this environment's stacks (see DriftSchema). */
  drift: DriftSchema.optional(),
});
export type EnvironmentConfig = z.output<typeof EnvironmentSchema>;

export const StackEntrySchema = z.strictObject({
  /** Stack name; also the default compose project name. */
  name: name("stack name"),
  /** Directory of the stack, repo-relative (default: the discovered directory). */
  path: repoPath.optional(),
  /** Compose files relative to the stack directory, merged in order like `-f a -f b`. */
  compose_files: z.array(repoPath).min(1).optional(),
  /** Extra env files (relative to the stack directory) passed with `--env-file`. */
  env_files: z.array(repoPath).optional(),
  /** Extra repo-relative globs whose changes redeploy this stack. */
  watch: z.array(repoGlob).optional(),
  /** Where to deploy: host names or label selectors. Overrides the environment's hosts. */
  hosts: z.array(HostSelector).optional(),
  /** Environment this stack belongs to. */
  environment: name("environment name").optional(),
  /** Compose project name on the hosts (default: the stack name normalized as Compose does: transfer.sh -> transfersh). */
  project_name: z.string().regex(PROJECT_NAME, "project_name must match ^[a-z0-9][a-z0-9_-]*$").optional(),
  /** When the stack directory is deleted: `true` removes it from its hosts, `false` only warns. */
  prune: z.boolean().optional(),
  /** Extra tags for the images the builder pushes (always tagged with the commit too). */
  image_tags: z.array(ImageTag).optional(),
  /** `false` excludes a discovered stack entirely. */
  enabled: z.boolean().optional(),
  /** Labels procedures and triggers choose stacks by (`stacks: [{ tier: data }]`); read from the default branch. */
  labels: z.record(z.string().regex(SAFE_NAME), z.string()).optional(),
  /** Commands run on the target host around its deploys; each replaces the default of its name. */
  hooks: HooksSchema.optional(),
  /** Drift detection for this stack, over its environment's (a rule: read from the default branch). */
  drift: DriftSchema.optional(),
});
export type StackEntry = z.output<typeof StackEntrySchema>;

/** A branch or tag name (as git check-ref-format takes it, kept boring) or a full commit id. */
export const SOURCE_REF = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock$)[A-Za-z0-9._/@+-]+(?<![/.])$/;
/** `owner/name` on the configured GitHub. */
export const REPO_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/**
 * Another repository whose files appear at `path` inside this one, as if they lived here. Content,
 * not rules: read at the commit being planned, fetched from the configured GitHub only.
 */
export const SourceSchema = z.strictObject({
  /** `owner/name` on the configured GitHub, or its https clone URL. */
  repository: z
    .string()
    .max(512)
    .refine((v) => REPO_NAME.test(v) || /^https?:\/\/[^\s]+$/.test(v), {
      message: "repository must be owner/name or an http(s) clone URL",
    }),
  /** Branch, tag or full commit id (default: the repository's default branch). */
  ref: z.string().max(255).regex(SOURCE_REF, "ref must be a branch, a tag or a full commit id").optional(),
  /** Where its files appear, repo-relative (default `vendor/<name>`); nothing of this repository may be there. */
  path: repoPath.optional(),
});
export type SourceConfig = z.output<typeof SourceSchema>;

/** Where a source's files appear: its `path`, else `vendor/<name>`. */
export const sourcePath = (name: string, source: SourceConfig): string =>
  (source.path ?? `vendor/${name}`).replace(/\/+$/, "");

export const RepoConfigSchema = z.strictObject({
  /** Schema version of this file. */
  version: z.literal(1).default(1),
  discover: z
    .strictObject({
      /** Globs of directories; each one holding a compose file is a stack named after it. */
      roots: z.array(repoGlob).default(["stacks/*", "services/*"]),
    })
    .default({ roots: ["stacks/*", "services/*"] }),
  /** Defaults applied to every stack. */
  defaults: z
    .strictObject({
      environment: name("environment name").optional(),
      hosts: z.array(HostSelector).optional(),
      prune: z.boolean().default(false),
      image_tags: z.array(ImageTag).optional(),
      /** Hooks of every stack that does not set a hook of the same name. */
      hooks: HooksSchema.optional(),
    })
    .default({ prune: false }),
  environments: z.record(name("environment name"), EnvironmentSchema).default({}),
  /** Explicit stacks: add new ones or override discovered ones by name. */
  stacks: z.array(StackEntrySchema).default([]),
  /** Named, staged runs (procedureSchema.ts); rules, read from the default branch only. */
  procedures: ProceduresSchema,
  /**
   * Git submodules: `recursive` reads them and theirs, `shallow` this repository's own only, `off`
   * none (a submodule is then one opaque entry: its commit).
   */
  submodules: z.enum(["recursive", "shallow", "off"]).default("recursive"),
  /** Other repositories whose files stacks use, by name: `{ repository, ref, path }`. */
  sources: z.record(name("source name"), SourceSchema).default({}),
});
export type RepoConfig = z.output<typeof RepoConfigSchema>;

export const COMPOSE_FILE_NAMES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yaml",
  "docker-compose.yml",
];
