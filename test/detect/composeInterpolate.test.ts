// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the text under test uses Compose's ${VAR} syntax.
import { describe, expect, it } from "vitest";
import { interpolate, UNRESOLVED } from "../../src/detect/composeInterpolate.ts";

const ENV: Record<string, string> = { SET: "/srv", EMPTY: "", PART: `/srv/${UNRESOLVED}`, HOST: UNRESOLVED };
const lookup = (name: string) => ENV[name];
const value = (text: string) => interpolate(text, lookup).value;
const unresolved = (text: string) => interpolate(text, lookup).unresolved;

describe("interpolate with the repository's variables", () => {
  it("substitutes $VAR and ${VAR} of a defined variable, and $$ as a dollar sign", () => {
    expect(value("$SET/a:${SET}/b:$$SET")).toBe("/srv/a:/srv/b:$SET");
    expect(unresolved("$SET ${SET}")).toEqual([]);
  });

  it("applies :- and - as Compose does for set, empty and undefined variables", () => {
    expect([value("${SET:-d}"), value("${EMPTY:-d}"), value("${NONE:-d}")]).toEqual(["/srv", "d", "d"]);
    expect([value("${SET-d}"), value("${EMPTY-d}"), value("${NONE-d}")]).toEqual(["/srv", "", "d"]);
  });

  it("applies :+ and + as Compose does", () => {
    expect([value("${SET:+a}"), value("${EMPTY:+a}"), value("${NONE:+a}")]).toEqual(["a", "", ""]);
    expect([value("${SET+a}"), value("${EMPTY+a}"), value("${NONE+a}")]).toEqual(["a", "a", ""]);
  });

  it("substitutes :? and ? when the value is there, and leaves them unresolved otherwise", () => {
    expect([value("${SET:?e}"), value("${SET?e}"), value("${EMPTY?e}")]).toEqual(["/srv", "/srv", ""]);
    expect(unresolved("${EMPTY:?e}/${NONE?e}")).toEqual(["${EMPTY:?e}", "${NONE?e}"]);
  });

  it("leaves variables the repository does not define unresolved, and values that are partly unknown", () => {
    const r = interpolate("${NONE}:$NONE:${PART}:${HOST:-d}", lookup);
    expect(r.unresolved).toEqual(["${NONE}", "$NONE", "${PART}", "${HOST:-d}"]);
    expect(r.value.split(":").every((part) => part.includes(UNRESOLVED))).toBe(true);
  });

  it("interpolates nested defaults with the same variables", () => {
    expect(value("${NONE:-${SET}/x}")).toBe("/srv/x");
    expect(value("${SET:+${SET}/y}")).toBe("/srv/y");
  });

  it("without variables takes defaults and leaves the rest unresolved, as before", () => {
    expect(interpolate("${A:-./x}").value).toBe("./x");
    expect(interpolate("${A}").unresolved).toEqual(["${A}"]);
  });
});
