/**
 * A secret named by where it lives (a file or an env var), never written in a config file.
 * The value is read at the moment it is used and stays in memory: no argv, logs or database.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { didYouMean } from "./yamlSource.ts";

type Reference = { file: string } | { env: string };

const REFERENCE = "a secret is referenced as { file: PATH } or { env: VAR }";
/** Said to whoever writes a secret's value inline; the value itself is never repeated. */
export const INLINE_SECRET_MESSAGE = `${REFERENCE}, never written into this file (remove the value from the file, and replace it if the file was shared)`;

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `{ file: PATH }` or `{ env: VAR }`, checked by hand rather than as a zod union, whose failure
 * reads "expected one of: string": each mistake gets its own message at its own key. A scalar is
 * the secret itself written inline (YAML reads `123456` as a number).
 */
export const SecretRef = z
  .unknown()
  .superRefine((v, ctx) => {
    if (!isObject(v)) {
      const scalar = typeof v === "string" || typeof v === "number" || typeof v === "boolean";
      ctx.addIssue({ code: "custom", message: scalar ? INLINE_SECRET_MESSAGE : REFERENCE });
      return;
    }
    const keys = Object.keys(v);
    for (const k of keys.filter((k) => k !== "file" && k !== "env")) {
      const hint = didYouMean(k, ["file", "env"]);
      const also = hint ? `did you mean "${hint}"? ` : "";
      ctx.addIssue({
        code: "custom",
        path: [k],
        params: { atKey: true },
        message: `unknown key "${k}"; ${also}${REFERENCE}`,
      });
    }
    if ("file" in v && "env" in v) ctx.addIssue({ code: "custom", message: `${REFERENCE}, not both` });
    else if (!("file" in v) && !("env" in v)) {
      if (keys.every((k) => k === "file" || k === "env"))
        ctx.addIssue({ code: "custom", message: REFERENCE });
    } else if ("file" in v && (typeof v.file !== "string" || v.file === ""))
      ctx.addIssue({ code: "custom", path: ["file"], message: "file: a non-empty path" });
    else if ("env" in v && (typeof v.env !== "string" || !ENV_NAME.test(v.env)))
      ctx.addIssue({ code: "custom", path: ["env"], message: "env var names are A-Z, 0-9 and _" });
  })
  .transform((v) => v as Reference);
export type SecretRef = z.output<typeof SecretRef>;

export class SecretError extends Error {
  override name = "SecretError";
}

export function expandHome(path: string, home = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** Where the secret comes from, for messages (never the value). */
export const describeSecret = (ref: SecretRef): string =>
  "file" in ref ? `file ${expandHome(ref.file)}` : `env var ${ref.env}`;

/** Reads a secret as text with one trailing newline removed; `what` names it in errors. */
export async function readSecret(
  ref: SecretRef,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  let value: string | undefined;
  if ("file" in ref) {
    try {
      value = await readFile(expandHome(ref.file), "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SecretError(`${what}: ${describeSecret(ref)} cannot be read (${code ?? "error"})`);
    }
  } else value = env[ref.env];
  const text = value?.replace(/\r?\n$/, "");
  if (!text) throw new SecretError(`${what}: ${describeSecret(ref)} is not set or empty`);
  return text;
}
