// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the YAML under test uses Compose's ${VAR} syntax.
/**
 * Property: hostile inputs (deep nesting, many keys, anchors and aliases, merge keys, huge
 * scalars, odd tags, NULs, hostile globs and paths) never make config loading, compose parsing,
 * compose collection or glob matching throw, and each case returns within a time bound.
 *
 * The bound has headroom for a loaded 2-core machine (yaml parses ~32 KB in ~60 ms when idle); the
 * inputs stay at most ~32 KB, where the behaviours this guards against (yaml's slowing with
 * nesting, its alias lookup, backtracking globs) already take seconds. A failing case is
 * reported as found (no shrinking: each try of a slow case is slow again).
 */
import { performance } from "node:perf_hooks";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { loadRepoConfig } from "../../src/config/repoConfig.ts";
import { collectComposeInputs, parseComposeFile } from "../../src/detect/compose.ts";
import { compileGlob, globProblem } from "../../src/util/glob.ts";

const BOUND_MS = 500;
const FILE = "stacks/web/compose.yaml";

/**
 * Runs `f` on `input`, failing when it throws or takes longer than the bound. A case over the
 * bound is timed twice more and judged by its fastest run: a pause of the machine does not
 * repeat, a superlinear case does.
 */
function within<T>(what: string, input: string, f: () => T): T {
  const timed = () => {
    const start = performance.now();
    const out = f();
    return { out, ms: performance.now() - start };
  };
  const first = timed();
  const ms = first.ms > BOUND_MS ? Math.min(first.ms, timed().ms, timed().ms) : first.ms;
  if (ms > BOUND_MS) {
    const shown = JSON.stringify(input.slice(0, 120));
    throw new Error(
      `${what} took ${ms.toFixed(0)} ms (bound ${BOUND_MS} ms) on ${input.length} chars: ${shown}`,
    );
  }
  return first.out;
}

const indent = (depth: number) => " ".repeat(depth);
/** Sizes up to `max`: `max` itself half the time, else any (fast-check favours small ones by default). */
const size = (max: number) => fc.oneof(fc.constant(max), fc.noBias(fc.integer({ min: 1, max })));

/** Shapes of hostile YAML, each up to ~64 KB. */
const hostileYaml: fc.Arbitrary<string> = fc.oneof(
  // Deep flow nesting, closed or not.
  fc.tuple(size(16_000), fc.constantFrom("[", "{a: ", "{"), fc.boolean()).map(([n, open, closed]) => {
    const depth = Math.ceil(n / open.length);
    return `services: ${open.repeat(depth)}${closed ? (open === "[" ? "]" : "}").repeat(depth) : ""}`;
  }),
  // Deep block nesting by indentation, and compact sequences at the start of a line.
  size(300).map((n) =>
    Array.from({ length: n }, (_, i) => `${indent(i)}k${i}:`)
      .join("\n")
      .concat(" x\n"),
  ),
  size(8000).map((n) => `services:\n  web:\n    volumes:\n      ${"- ".repeat(n)}x\n`),
  // Many keys in one mapping, maybe one repeated.
  fc.tuple(size(1500), fc.option(fc.nat(1499))).map(([n, dup]) => {
    const keys = Array.from({ length: n }, (_, i) => `      l${i}: v${i}`);
    if (dup !== null) keys.push(`      l${dup % n}: again`);
    return `services:\n  web:\n    image: x\n    labels:\n${keys.join("\n")}\n`;
  }),
  // Many services, each with refs whose positions are looked up.
  fc
    .integer({ min: 1, max: 300 })
    .map(
      (n) =>
        `services:\n${Array.from({ length: n }, (_, i) => `  s${i}:\n    image: x\n    env_file: ../../../e${i}.env\n    volumes: ["./d${i}:/d"]\n`).join("")}`,
    ),
  // Anchors and aliases: many aliases of one anchor, and nested "billion laughs".
  fc
    .tuple(size(6000), fc.constantFrom("[]", "{}", "x", "{a: 1}"))
    .map(
      ([n, value]) =>
        `x-a: &a ${value}\nservices:\n  web:\n    image: x\n    labels: [${"*a, ".repeat(n)}*a]\n`,
    ),
  fc.tuple(size(12), size(12)).map(([levels, width]) => {
    const lines = ["l0: &l0 [x, x]"];
    for (let i = 1; i <= levels; i++)
      lines.push(
        `l${i}: &l${i} [${Array(width)
          .fill(`*l${i - 1}`)
          .join(", ")}]`,
      );
    return `${lines.join("\n")}\nservices: *l${levels}\n`;
  }),
  // Merge keys: chains, lists of sources, merges of non-maps, self-merges.
  size(400).map((n) => {
    const lines = ["x-0: &m0 {image: x, env_file: a.env}"];
    for (let i = 1; i < n; i++) lines.push(`x-${i}: &m${i} {<<: *m${i - 1}, k${i}: v}`);
    return `${lines.join("\n")}\nservices:\n  web:\n    <<: *m${n - 1}\n`;
  }),
  fc.tuple(size(2000), size(60)).map(([keys, copies]) => {
    const big = Array.from({ length: keys }, (_, i) => `  k${i}: v\n`).join("");
    return `x-big: &big\n${big}services:\n${Array.from({ length: copies }, (_, i) => `  s${i}: {<<: *big}\n`).join("")}`;
  }),
  fc.constantFrom(
    "x: &a [1]\nservices:\n  web:\n    <<: *a\n",
    "services: &s\n  web:\n    <<: *s\n",
    "x: &a {b: *a}\nservices: *a\n",
    "services:\n  web: &w\n    <<: [*w, *w]\n",
  ),
  // Huge scalars: plain, quoted, block literal, as keys.
  fc.tuple(size(30_000), fc.constantFrom("plain", "quoted", "block", "key")).map(([n, form]) => {
    const s = "a".repeat(n);
    if (form === "quoted") return `services:\n  web:\n    image: "${s}"\n`;
    if (form === "block") return `services:\n  web:\n    command: |\n      ${s}\n`;
    if (form === "key") return `services:\n  ${s}:\n    image: x\n`;
    return `services:\n  web:\n    image: ${s}\n`;
  }),
  // Odd tags and control characters.
  fc
    .array(
      fc.constantFrom(
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1, a: 2]",
        "!!timestamp 2001-12-14",
        "!!int abc",
        "!!float x",
        "!reset null",
        "!override [a]",
        "!<tag:yaml.org,2002:js/function> 'x'",
        "!foo bar",
        "&a !!str *a",
        "\u0000",
        "\u0007\u001b",
        "\ufeff",
        "\r\n",
        "\t",
        "'\u202e'",
        "%YAML 1.1",
        "---",
        "...",
      ),
      { minLength: 1, maxLength: 20 },
    )
    .map(
      (bits) =>
        `services:\n  web:\n    image: ${bits.join(" ")}\n    labels: {${bits.map((b, i) => `k${i}: ${b}`).join(", ")}}\n`,
    ),
  // Random fragments of YAML syntax.
  fc
    .array(
      fc.constantFrom(
        "services:",
        "\n",
        "  ",
        "- ",
        "? ",
        ": ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "<<: ",
        '"',
        "'",
        "#",
        "|",
        ">",
        "!!",
        "x",
        "web",
        "\u0000",
        "${A:-..}",
        "../../..",
      ),
      { maxLength: 400 },
    )
    .map((bits) => bits.join("")),
);

/** Compose files whose paths go where they should not. */
const hostilePaths: fc.Arbitrary<string> = fc
  .array(
    fc.constantFrom(
      "..",
      "../..",
      "/etc/shadow",
      "/",
      "C:\\Windows",
      "\\\\server\\share",
      "~/x",
      "${HOME}",
      "${ROOT:-/}",
      "${X:-../../..}",
      "./a/../../b",
      "é/ü/😀",
      "a\u0000b",
      "a//b",
      ".",
      "git@github.com:x/y.git",
      "https://example.invalid/x",
      "x".repeat(1000),
      `${"a/".repeat(300)}b`,
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((paths) => {
    const quoted = paths.map((p) => JSON.stringify(p));
    return [
      `include: [${quoted.join(", ")}]`,
      "services:",
      "  web:",
      `    env_file: [${quoted.join(", ")}]`,
      `    volumes: [${paths.map((p) => JSON.stringify(`${p}:/data`)).join(", ")}]`,
      `    build: {context: ${quoted[0]}, dockerfile: ${quoted.at(-1)}}`,
      `    extends: {file: ${quoted[0]}, service: web}`,
      `configs: {c: {file: ${quoted[0]}}}`,
      `volumes: {v: {driver_opts: {type: none, o: bind, device: ${quoted.at(-1)}}}}`,
    ].join("\n");
  });

/** Globs as a user might write them, and as an attacker would. */
const hostileGlob: fc.Arbitrary<string> = fc.oneof(
  fc
    .array(
      fc.constantFrom(
        "*",
        "**",
        "?",
        "/",
        "a",
        ".",
        "[",
        "]",
        "!",
        "^",
        "-",
        "{",
        "}",
        ",",
        "\\",
        "(",
        ")",
        "|",
        "+",
        "@",
        "..",
        "é",
        "😀",
        "[:alpha:]",
      ),
      { maxLength: 60 },
    )
    .map((bits) => bits.join("")),
  size(500).map((n) => `**/${"*a".repeat(n)}*z`),
  size(200).map((n) => `${"**/a/".repeat(n)}z`),
  size(12).map((n) => "{a,b}".repeat(n)),
  size(300).map((n) => `${"{".repeat(n)}a${",b}".repeat(n)}`),
  fc.constantFrom("**/+(*a)*z", "@(a|b)", "!(x)", "{1..100000}", "[z-a]", "[a/b]", "!x", ""),
);

const hostilePath: fc.Arbitrary<string> = fc.oneof(
  size(4000).map((n) => `d/${"a".repeat(n)}`),
  size(1000).map((n) => `${"a/".repeat(n)}z`),
  fc.constantFrom("..", "../x", "/etc/passwd", ".github/stackpilot.yml", "é/😀", "a//b", "", "."),
);

describe("hostile inputs", () => {
  // Compile everything once, so that the first case is not timed with the JIT's warm-up.
  parseComposeFile(FILE, "services:\n  web:\n    image: x\n");
  loadRepoConfig("version: 1\n");
  compileGlob("**/*.yml")("a/b.yml");

  it("compose files: parse and collect return problems, never throw, within the bound", () => {
    fc.assert(
      fc.property(fc.oneof(hostileYaml, hostilePaths), (text) => {
        const info = within("parseComposeFile", text, () => parseComposeFile(FILE, text));
        expect(Array.isArray(info.problems)).toBe(true);
        const files: Record<string, string> = { [FILE]: text };
        within("collectComposeInputs", text, () =>
          collectComposeInputs([FILE, "other.yaml", "../../../x.yaml"], (p) => files[p]),
        );
      }),
      { numRuns: 150, endOnFailure: true },
    );
  });

  it("repo config: loading returns problems, never throws, within the bound", () => {
    const asConfig = fc.oneof(
      hostileYaml,
      fc
        .tuple(fc.array(hostileGlob, { minLength: 1, maxLength: 5 }), fc.array(hostileGlob, { maxLength: 3 }))
        .map(
          ([watch, roots]) =>
            `version: 1\ndiscover:\n  roots: ${JSON.stringify(roots)}\nstacks:\n  - name: web\n    watch: ${JSON.stringify(watch)}\n    hosts: ${JSON.stringify(watch)}\n`,
        ),
    );
    fc.assert(
      fc.property(asConfig, (text) => {
        const loaded = within("loadRepoConfig", text, () => loadRepoConfig(text));
        expect(Array.isArray(loaded.problems)).toBe(true);
      }),
      { numRuns: 150, endOnFailure: true },
    );
  });

  it("globs: refused with a message or matched within the bound, never throwing", () => {
    fc.assert(
      fc.property(
        hostileGlob,
        fc.array(hostilePath, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (glob, paths, dot) => {
          const why = within("globProblem", glob, () => globProblem(glob));
          if (why !== undefined) {
            expect(() => compileGlob(glob)).toThrow(why);
            return;
          }
          const isMatch = within("compileGlob", glob, () => compileGlob(glob, { dot }));
          within("matching", glob, () => paths.map(isMatch));
        },
      ),
      { numRuns: 300, endOnFailure: true },
    );
  });
});
