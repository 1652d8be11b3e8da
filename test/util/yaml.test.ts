import { describe, expect, it } from "vitest";
import { isMap, parseDocument } from "yaml";
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

describe("alias expansion", () => {
  const bomb = (levels: number) => {
    const lines = ["l0: &l0 [x, x]"];
    for (let i = 1; i <= levels; i++)
      lines.push(
        `l${i}: &l${i} [${Array(10)
          .fill(`*l${i - 1}`)
          .join(", ")}]`,
      );
    return `${lines.join("\n")}\n`;
  };

  it("refuses a billion laughs at its first alias, before expanding anything", () => {
    expect(errorsOf(bomb(9))).toEqual([
      {
        line: 2,
        col: 10,
        code: "RESOURCE_EXHAUSTION",
        message: expect.stringMatching(
          /^aliases and merge keys add \d+ nodes to the document; Stackpilot reads at most 50000/,
        ),
      },
    ]);
  });

  it("refuses merge keys copying a big map again and again, and accepts many small merges", () => {
    const big = Array.from({ length: 20_000 }, (_, i) => `  k${i}: v\n`).join("");
    const copies = Array.from({ length: 5 }, (_, i) => `  s${i}: {<<: *big}\n`).join("");
    expect(errorsOf(`x: &big\n${big}services:\n${copies}`, true)).toEqual([
      expect.objectContaining({
        code: "RESOURCE_EXHAUSTION",
        message: expect.stringContaining("add 200005 nodes"),
      }),
    ]);
    const small = Array.from({ length: MAX_YAML_ALIASES }, (_, i) => `  s${i}: {<<: *base, image: x}\n`).join(
      "",
    );
    const { doc, errors } = parseYaml(`x: &base {restart: always, init: true}\nservices:\n${small}`, {
      merge: true,
    });
    expect(errors).toEqual([]);
    const value = doc && toPlain(doc);
    expect(
      value && "value" in value && (value.value as { services: Record<string, object> }).services.s999,
    ).toEqual({
      restart: "always",
      init: true,
      image: "x",
    });
  });

  it("refuses an alias inside the node it names", () => {
    expect(errorsOf("a: &a {b: [*a]}\n")).toEqual([
      expect.objectContaining({ line: 1, col: 12, message: "alias *a is inside the node it names" }),
    ]);
  });

  it("leaves toPlain an error message, not an exception, for a document that escaped the checks", () => {
    expect(toPlain(parseDocument(bomb(6)))).toEqual({
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
