// Untrusted text in the markdown we post: checked on what a real renderer makes of it, with the
// patterns GitHub resolves mentions and issue references by (test/helpers/githubMarkdown.ts).
import { describe, expect, it } from "vitest";
import {
  codeBlock,
  codeSpan,
  escapeHtml,
  escapeMarkdown,
  htmlCode,
  mention,
} from "../../src/plan/render/escape.ts";
import { HOSTILE, pingsIn, renderGithubMarkdown, tableShapes, tagsIn } from "../helpers/githubMarkdown.ts";

describe("the test's model of GitHub", () => {
  it("finds the mentions and references GitHub would resolve, and none in code", () => {
    expect(pingsIn("hi @someone, see #12")).toEqual(["@someone", "#12"]);
    expect(pingsIn("&#64;someone \\@other")).toEqual(["@someone", "@other"]);
    expect(pingsIn("`@someone #12` and mail@example.com")).toEqual([]);
  });
});

describe("escapeMarkdown", () => {
  it("leaves no mention, reference, HTML or markup in text, on one line", () => {
    for (const text of HOSTILE) {
      const out = escapeMarkdown(text);
      expect([text, pingsIn(out)]).toEqual([text, []]);
      expect([text, [...tagsIn(out)]]).toEqual([text, ["p"]]);
      expect(out).not.toMatch(/[\r\n]/);
    }
  });

  it("shows the text as it was, but for invisible spaces after @ and #", () => {
    const text = "@someone fixes #12 in a|b <x> *y*";
    const shown = renderGithubMarkdown(escapeMarkdown(text))
      .replace(/<\/?p>\n?/g, "")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">");
    expect(shown.replaceAll("\u200B", "")).toBe(text);
  });

  it("keeps a table's shape whatever a cell holds", () => {
    const rows = HOSTILE.map((t) => `| ${codeSpan(t, { inTable: true })} | ${escapeMarkdown(t)} |`);
    const table = ["| a | b |", "|---|---|", ...rows].join("\n");
    expect(tableShapes(table)).toEqual([Array(HOSTILE.length + 1).fill(2)]);
    expect(pingsIn(table)).toEqual([]);
    expect([...tagsIn(table)].sort()).toEqual(["code", "table", "tbody", "td", "th", "thead", "tr"]);
  });
});

describe("codeSpan", () => {
  it("holds any text in one code span it cannot close, without control or format characters", () => {
    for (const text of HOSTILE) {
      const html = renderGithubMarkdown(codeSpan(text));
      expect([text, [...tagsIn(codeSpan(text))].sort()]).toEqual([text, ["code", "p"]]);
      expect(html).not.toMatch(/[\u202E\n\r]<\/code>/);
    }
    expect(codeSpan("\u202Eevil")).toBe("`\uFFFDevil`");
    expect(codeSpan("a`b")).toBe("`` a`b ``");
  });

  it("cuts at max characters", () => {
    expect(codeSpan("x".repeat(100), { max: 40 })).toBe(`\`${"x".repeat(40)}…\``);
  });
});

describe("HTML contexts and code blocks", () => {
  it("htmlCode and escapeHtml keep a <summary> free of tags and mentions", () => {
    for (const text of HOSTILE) {
      const summary = `<details><summary>${htmlCode(text)} ${escapeHtml(text)}</summary>\n\nbody\n\n</details>`;
      expect([text, pingsIn(summary)]).toEqual([text, []]);
      expect([text, [...tagsIn(summary)].sort()]).toEqual([text, ["code", "details", "p", "summary"]]);
    }
  });

  it("codeBlock holds text with fences of its own", () => {
    const text = "```\n@someone\n````\n#12";
    const html = renderGithubMarkdown(codeBlock(text));
    expect([...tagsIn(codeBlock(text))].sort()).toEqual(["code", "pre"]);
    expect(html).toContain("@someone\n````\n#12");
  });
});

describe("mention", () => {
  it("mentions a login as GitHub gives it, and shows anything else as text", () => {
    expect(mention("octocat")).toBe("@octocat");
    expect(mention("dependabot[bot]")).toBe("@dependabot[bot]");
    expect(pingsIn(mention("x @someone"))).toEqual([]);
  });
});
