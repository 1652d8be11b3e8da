// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the env files under test use Compose's ${VAR} syntax.
import { describe, expect, it } from "vitest";
import { UNRESOLVED } from "../../src/detect/composeInterpolate.ts";
import { composeEnv, NO_ENV, parseDotenv } from "../../src/detect/dotenv.ts";

const lines = (...l: string[]) => `${l.join("\n")}\n`;
const vars = (text: string) => Object.fromEntries(parseDotenv(text).vars);

describe("parseDotenv: Compose's grammar", () => {
  it("reads KEY=value, KEY: value, export, comments and blank lines", () => {
    expect(
      vars(lines("# a comment", "", "A=1", "export B=two", "C: three", "  D = spaced  ", "E=x # trailing")),
    ).toEqual({ A: "1", B: "two", C: "three", D: "spaced", E: "x" });
  });

  it("keeps single-quoted values literal and interpolates double-quoted and unquoted ones", () => {
    expect(
      vars(lines("ROOT=/srv", "S='${ROOT}/a'", 'D="${ROOT}/b"', "U=${ROOT}/c", 'N="line\\nbreak"')),
    ).toEqual({ ROOT: "/srv", S: "${ROOT}/a", D: "/srv/b", U: "/srv/c", N: "line\nbreak" });
  });

  it("interpolates each value with the variables defined before it, as Compose does", () => {
    // A redefinition changes later lines only; B keeps the value A had when B was read.
    expect(vars(lines("A=/srv/data", "B=${A}", "A=/", "C=${A:-x}", "D=${LATER:-d}", "LATER=l"))).toEqual({
      A: "/",
      B: "/srv/data",
      C: "/",
      D: "d",
      LATER: "l",
    });
  });

  it("marks what depends on the host's environment as unknown: a bare KEY and what uses it", () => {
    const parsed = vars(lines("HOME_DIR", "DATA=${HOME_DIR}/data", "PLAIN=${UNDEFINED}"));
    expect(parsed.HOME_DIR).toBe(UNRESOLVED);
    expect(parsed.DATA).toContain(UNRESOLVED);
    expect(parsed.PLAIN).toBe(UNRESOLVED);
  });

  it("marks an unquoted value with a # inside as unknown (Compose versions cut it differently)", () => {
    expect(vars(lines("A=/srv/data#x", "B=/srv/data #x", 'C="/srv/#x"'))).toEqual({
      A: UNRESOLVED,
      B: "/srv/data",
      C: "/srv/#x",
    });
  });

  it("stops at an unterminated quote or an invalid name with a problem at its line", () => {
    const unterminated = parseDotenv(lines("A=1", "B='open", "C=3"));
    expect(Object.fromEntries(unterminated.vars)).toEqual({ A: "1" });
    expect(unterminated.problems).toEqual([
      { line: 2, message: "unterminated quoted value of B; Compose refuses this file" },
    ]);
    expect(parseDotenv(lines("A=1", "B C=2")).problems[0]?.line).toBe(2);
  });
});

describe("composeEnv: files in order, and included projects", () => {
  it("lets a later env file override an earlier one and see its variables", () => {
    const { env } = composeEnv([
      { path: "base.env", text: lines("ROOT=/srv", "DATA=${ROOT}/data") },
      { path: "absent.env", text: undefined },
      { path: "prod.env", text: lines("LOGS=${DATA}/logs", "ROOT=/mnt") },
    ]);
    expect(Object.fromEntries(env.vars)).toEqual({ ROOT: "/mnt", DATA: "/srv/data", LOGS: "/srv/data/logs" });
  });

  it("marks a name that an earlier file and the file itself define differently before it is used", () => {
    const { env } = composeEnv([
      { path: "a.env", text: lines("ROOT=/srv") },
      { path: "b.env", text: lines("ROOT=/", "DATA=${ROOT}") },
    ]);
    expect(env.vars.get("DATA")).toBe(UNRESOLVED);
  });

  it("gives an included project its own variables under the includer's, which win", () => {
    const parent = composeEnv([{ path: ".env", text: lines("ROOT=/srv") }]).env;
    const { env } = composeEnv([{ path: "inc/.env", text: lines("ROOT=/", "OWN=x") }], parent);
    expect(Object.fromEntries(env.vars)).toEqual({ ROOT: "/srv", OWN: "x" });
  });

  it("keys an environment by its values, and an empty one as NO_ENV", () => {
    const a = composeEnv([{ path: ".env", text: "ROOT=/srv\n" }]).env;
    const b = composeEnv([{ path: "other/.env", text: "ROOT=/srv\n" }]).env;
    const c = composeEnv([{ path: ".env", text: "ROOT=/\n" }]).env;
    expect(a.key).toBe(b.key);
    expect(a.key).not.toBe(c.key);
    expect(composeEnv([{ path: ".env", text: "# nothing\n" }]).env).toBe(NO_ENV);
  });

  it("reports parse problems with the file's path", () => {
    const { problems } = composeEnv([{ path: "stacks/a/.env", text: 'X="open\n' }]);
    expect(problems).toEqual([
      {
        file: "stacks/a/.env",
        line: 1,
        message: "unterminated quoted value of X; Compose refuses this file",
      },
    ]);
  });
});
