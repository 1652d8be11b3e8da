import { describe, expect, it } from "vitest";
import { isMap } from "yaml";
import { MAX_YAML_ALIASES, MAX_YAML_DEPTH, MapIndex, parseYaml, toPlain } from "../../src/util/yaml.ts";

const errorsOf = (text: string, merge = false) => {
  const { errors, lines } = parseYaml(text, { merge });
  return errors.map((e) => ({ ...lines.linePos(e.pos[0]), code: e.code, message: e.message }));
};

describe("parseYaml", () => {
  it("reports a duplicate key at the duplicate, in block and flow maps, at any depth", () => {
    expect(errorsOf("a: 1\nb:\n  c: 1\n  c: 2\nd: {x: 1, x: 2}\na: 3\n")).toEqual([
      { line: 4, col: 3, code: "DUPLICATE_KEY", message: 'duplicate key "c": map keys must be unique' },
      { line: 5, col: 11, code: "DUPLICATE_KEY", message: 'duplicate key "x": map keys must be unique' },
      { line: 6, col: 1, code: "DUPLICATE_KEY", message: 'duplicate key "a": map keys must be unique' },
    ]);
  });

  it("tells keys of different types apart, as yaml does, and lets merge keys repeat", () => {
    expect(errorsOf("1: a\n'1': b\ntrue: c\n'true': d\n")).toEqual([]);
    expect(errorsOf("x: &x {a: 1}\ny: &y {b: 1}\nz:\n  <<: *x\n  <<: *y\n", true)).toEqual([]);
  });

  it("stops parsing past the nesting limit and says where", () => {
    const deep = `${"[".repeat(MAX_YAML_DEPTH + 5)}${"]".repeat(MAX_YAML_DEPTH + 5)}`;
    const { doc, errors } = parseYaml(deep);
    expect(doc).toBeUndefined();
    expect(errors.map((e) => e.message)).toEqual([`nested more than ${MAX_YAML_DEPTH} levels deep`]);
    expect(errorsOf(`${"- ".repeat(MAX_YAML_DEPTH + 5)}x`)[0]?.message).toContain("nested more than");
    expect(parseYaml(`${"[".repeat(20)}${"]".repeat(20)}`).errors).toEqual([]);
  });

  it("refuses more aliases than the limit, at the first one past it", () => {
    const text = `a: &a []\nb:\n${"  - *a\n".repeat(MAX_YAML_ALIASES + 1)}`;
    expect(errorsOf(text)).toEqual([
      expect.objectContaining({ line: MAX_YAML_ALIASES + 3, code: "RESOURCE_EXHAUSTION" }),
    ]);
    expect(errorsOf(`a: &a []\nb:\n${"  - *a\n".repeat(MAX_YAML_ALIASES)}`)).toEqual([]);
  });

  it("reports a second document instead of reading it", () => {
    expect(errorsOf("a: 1\n---\nb: 2\n")).toEqual([
      expect.objectContaining({ code: "MULTIPLE_DOCS", line: 2 }),
    ]);
  });

  it("resolves each alias to the last node anchored so before it", () => {
    const { doc, aliases } = parseYaml("a: &x 1\nb: *x\nc: &x 2\nd: *x\n");
    const values = [...aliases.values()].map((n) => (n as { value?: unknown }).value);
    expect(values).toEqual([1, 2]);
    expect(doc && toPlain(doc)).toEqual({ value: { a: 1, b: 1, c: 2, d: 2 } });
  });
});

describe("toPlain", () => {
  it("turns an alias bomb into an error message instead of an exception", () => {
    const levels = ["b", "c", "d", "e", "f", "g"];
    let prev = "a";
    const lines = levels.map((n) => {
      const line = `${n}: &${n} [${Array(10).fill(`*${prev}`).join(", ")}]`;
      prev = n;
      return line;
    });
    const { doc, errors } = parseYaml(`a: &a [x, x]\n${lines.join("\n")}\n`);
    expect(errors).toEqual([]);
    expect(doc && toPlain(doc)).toEqual({
      error: expect.stringMatching(/^cannot expand YAML: Excessive alias count/),
    });
  });
});

describe("MapIndex", () => {
  it("finds a key's pair, the first when it repeats, and lists merge keys apart", () => {
    const { doc } = parseYaml("base: &b {x: 1}\nm:\n  <<: *b\n  k: 1\n  k: 2\n", { merge: true });
    const m = doc?.getIn(["m"], true);
    if (!isMap(m)) throw new Error("expected a map");
    const index = new MapIndex();
    expect(index.pair(m, "k")?.value).toMatchObject({ value: 1 });
    expect(index.pair(m, "x")).toBeUndefined();
    expect(index.merges(m)).toHaveLength(1);
  });
});
