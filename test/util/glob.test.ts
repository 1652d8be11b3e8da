import { performance } from "node:perf_hooks";
import fc from "fast-check";
import picomatch from "picomatch";
import { describe, expect, it } from "vitest";
import { compileGlob, globProblem, MAX_GLOB_CHARS, scanGlob } from "../../src/util/glob.ts";

const match = (pattern: string | string[], path: string, dot = false) => compileGlob(pattern, { dot })(path);

describe("glob matching", () => {
  it("matches * and ? within one name only", () => {
    expect(match("stacks/*", "stacks/web")).toBe(true);
    expect(match("stacks/*", "stacks/web/compose.yaml")).toBe(false);
    expect(match("web-?", "web-1")).toBe(true);
    expect(match("a?b", "a/b")).toBe(false);
    expect(match("a/*", "a/")).toBe(false);
    // * may match nothing within a name, as in bash (picomatch's `*.*` alone refuses `a.`).
    expect(match("*.*", "a.")).toBe(true);
    expect(match("**/*.*", "d/a.")).toBe(true);
    expect(match("*.*", "a")).toBe(false);
  });

  it("matches ** as zero or more whole names, and like * elsewhere", () => {
    expect(match("**/a", "a")).toBe(true);
    expect(match("**/a", "x/y/a")).toBe(true);
    expect(match("a/**/b", "a/b")).toBe(true);
    expect(match("a/**/b", "a/x/y/b")).toBe(true);
    expect(match("a/**", "a")).toBe(true);
    expect(match("a/**b", "a/x/b")).toBe(false);
    expect(match("a**", "ab")).toBe(true);
    expect(match("a/***/b", "a/x/y/b")).toBe(false);
  });

  it("keeps wildcards off names starting with a dot unless dot is set or the pattern names the dot", () => {
    expect(match("**", ".github/x")).toBe(false);
    expect(match("**", ".github/x", true)).toBe(true);
    expect(match("*.yml", ".a.yml")).toBe(false);
    expect(match(".*", ".env")).toBe(true);
    expect(match("x/**/.a", "x/.b/.a")).toBe(false);
    expect(match("x/**/.a", "x/b/.a")).toBe(true);
    expect(match("*", "..", true)).toBe(false);
    expect(match("**/x", "../x", true)).toBe(false);
  });

  it("matches classes, negated with ! or ^, and escapes", () => {
    expect(match("[a-c]x", "bx")).toBe(true);
    expect(match("[!a]x", "bx")).toBe(true);
    expect(match("[!a]x", "ax")).toBe(false);
    expect(match("[^a]x", "ax")).toBe(false);
    expect(match("[]a]", "]")).toBe(true);
    expect(match("[a", "[a")).toBe(true);
    expect(match("\\*", "*")).toBe(true);
    expect(match("\\*", "a")).toBe(false);
    expect(match("[\\]]", "]")).toBe(true);
  });

  it("expands nested {a,b} alternatives, and treats {a} and parentheses as literal", () => {
    expect(match("{web,api}-*", "api-1")).toBe(true);
    expect(match("a{,/b}", "a/b")).toBe(true);
    expect(match("{a,{b,c}}", "c")).toBe(true);
    expect(match("{a}", "{a}")).toBe(true);
    expect(match("docs/(old)/*", "docs/(old)/x")).toBe(true);
    expect(match("{**,a}/b", "x/y/b")).toBe(true);
  });

  it("matches when any pattern of a list matches", () => {
    expect(match(["a", "b*"], "bee")).toBe(true);
    expect(match(["a", "b*"], "c")).toBe(false);
  });

  it("counts astral characters as one character", () => {
    expect(match("?", "😀")).toBe(true);
    expect(match("??", "😀")).toBe(false);
    expect(match("[😀x]", "😀")).toBe(true);
  });
});

describe("glob validation", () => {
  it.each([
    ["**/+(*a)*z", /extended globs such as "\+\(…\)"/],
    ["@(a|b)", /extended globs/],
    ["!(a)", /extended globs/],
    ["{1..3}", /brace ranges such as "\{1\.\.3\}"/],
    ["[[:alpha:]]", /character classes such as "\[:alpha:\]"/],
    ["!secret", /negated patterns/],
    ["[a/b]", /"\/" cannot be inside \[\.\.\.\]/],
    ["[z-a]", /range "z-a" in \[\.\.\.\] is reversed/],
    ["", /empty pattern/],
    ["{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}", /more than 256 alternatives/],
    [`${"{a,".repeat(11)}b${"}".repeat(11)}`, /braces nested more than 10 deep/],
    ["a".repeat(MAX_GLOB_CHARS + 1), /1025 characters, over the limit of 1024/],
  ])("refuses %j with a message", (pattern, message) => {
    expect(globProblem(pattern)).toMatch(message);
    expect(() => compileGlob(pattern)).toThrow(message);
  });

  it("accepts the forms it matches", () => {
    for (const p of ["stacks/*", "**/*.{yml,yaml}", "a/[!b]?/\\(x\\)", "{a,{b,c}}/**", "+a@b!c"])
      expect(globProblem(p)).toBeUndefined();
  });
});

describe("scanGlob", () => {
  it("gives the literal directory every match lies below, and whether there is any wildcard", () => {
    expect(scanGlob("shared/config/**")).toEqual({ base: "shared/config", isGlob: true });
    expect(scanGlob("shared/file.txt")).toEqual({ base: "shared", isGlob: false });
    expect(scanGlob("./a/b*/c")).toEqual({ base: "a", isGlob: true });
    expect(scanGlob("{a,b}/c")).toEqual({ base: "", isGlob: true });
    expect(scanGlob("web-1")).toEqual({ base: "", isGlob: false });
    expect(scanGlob("{a}")).toEqual({ base: "", isGlob: false });
  });
});

/**
 * Differential: on patterns of the syntax both accept, the same answer as picomatch. Left out, on
 * purpose: `[!` (picomatch 4 reads `[!a]` as the set of `!` and `a`), parentheses and `|`
 * (picomatch reads regex groups), the names `.` and `..` and empty names (git paths have none),
 * without `dot`, segments starting with `{` (picomatch lets `{a,*}` match `.x`), and `**` next to
 * a brace (picomatch reads `**{a,b}` as a globstar crossing `/`; here `**` is one only as a whole
 * segment), `***` and segments that may expand to nothing (picomatch's `a/**\/***` matches `a`),
 * and the whole patterns `*.*` and `**\/*.*` (picomatch's shortcuts for them want a character after
 * the dot: they refuse `a.`, which its `a/*.*`, `a.*` and `x*.*` match, as do bash and this matcher).
 */
describe("glob matching agrees with picomatch", () => {
  const atom = fc.constantFrom(
    "a",
    "b",
    ".",
    "-",
    "*",
    "?",
    "[ab]",
    "[^a]",
    "[a-b]",
    "[.]",
    "\\*",
    "{a,b}",
    "{a,.b*}",
    "{,a}",
    "{a/b,c}",
    "{a,{b,?}}",
  );
  const segment = fc.oneof(
    { weight: 1, arbitrary: fc.constant("**") },
    { weight: 5, arbitrary: fc.array(atom, { minLength: 1, maxLength: 4 }).map((a) => a.join("")) },
  );
  const pattern = fc
    .array(segment, { minLength: 1, maxLength: 4 })
    .map((s) => s.join("/"))
    .filter((p) => globProblem(p) === undefined);
  const name = fc
    .array(fc.constantFrom("a", "b", ".", "-", "*"), { minLength: 1, maxLength: 5 })
    .map((c) => c.join(""))
    .filter((n) => n !== "." && n !== "..");
  const braceLed = (p: string) => /(^|\/)\{/.test(p);
  const quirky = (p: string) => /\*\*[{,}]|[{,}]\*\*|\*\*\*|(^|\/)(\{,a\})+($|\/)|^(\*\*\/)?\*\.\*$/.test(p);
  const path = fc.array(name, { minLength: 1, maxLength: 5 }).map((n) => n.join("/"));

  it("on random patterns and paths, with and without dot", () => {
    fc.assert(
      fc.property(pattern, path, fc.boolean(), (p, s, dot) => {
        fc.pre((dot || !braceLed(p)) && !quirky(p));
        expect(compileGlob(p, { dot })(s), `${p} vs ${s}${dot ? " (dot)" : ""}`).toBe(
          picomatch(p, { dot })(s),
        );
      }),
      { numRuns: Number(process.env.GLOB_RUNS ?? 5000) },
    );
    // ~3 s alone; several times that beside the rest of the suite on 2 cores (it timed out once at 30 s).
  }, 180_000);

  it("on lists of patterns", () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 3 }), path, (ps, s) => {
        fc.pre(!ps.some((p) => braceLed(p) || quirky(p)));
        expect(compileGlob(ps)(s)).toBe(picomatch(ps)(s));
      }),
      { numRuns: 1000 },
    );
  }, 60_000);
});

describe("hostile globs finish fast", () => {
  const within = (ms: number, f: () => void) => {
    const start = performance.now();
    f();
    return performance.now() - start < ms;
  };

  it("matches star-heavy patterns against long names in linear time", () => {
    const starry = `**/${"*a".repeat(300)}*z`;
    expect(globProblem(starry)).toBeUndefined();
    const long = `d/${"a".repeat(4000)}`;
    const isMatch = compileGlob(starry, { dot: true });
    expect(within(200, () => expect(isMatch(long)).toBe(false))).toBe(true);
    expect(within(200, () => expect(isMatch(`${long}z`)).toBe(true))).toBe(true);
  });

  it("matches many globstars against deep paths in linear time", () => {
    const deep = `${"**/a/".repeat(100)}z`;
    const path = `${"a/".repeat(2000)}b`;
    expect(within(500, () => expect(compileGlob(deep)(path)).toBe(false))).toBe(true);
  });

  it("refuses the patterns that backtrack in picomatch", () => {
    expect(globProblem("**/+(*a)*z")).toBeDefined();
  });
});
