/**
 * What GitHub would make of markdown we post, as far as tests need it: rendered by a real
 * CommonMark renderer with GFM tables (markdown-it, raw HTML allowed as GitHub allows it), then
 * the text outside `pre`, `code` and `a` searched with the patterns of html-pipeline's
 * MentionFilter and issue references, which GitHub runs on the rendered HTML.
 */
import MarkdownIt from "markdown-it";

const md = new MarkdownIt({ html: true });

/** Names a hostile repository can give files, stacks and services, or put in an error message. */
export const HOSTILE = [
  "@someone please look",
  "cc @org/team and @a-b.",
  "fixes #12",
  "a|b",
  "`tick` and ``two``",
  "<img src=x onerror=alert(1)>",
  "**bold** _it_ ~~gone~~ [link](https://evil.example) ![i](https://evil.example/i.png)",
  "line\nbreak\r\n# heading",
  "&lt;b&gt; &#64;someone",
  "\u202Eevil",
];

export function renderGithubMarkdown(markdown: string): string {
  return md.render(markdown);
}

const MENTION = /(?:^|\W)@([a-z0-9][a-z0-9-]*)(?!\/)(?=\.+[ \t\W]|\.+$|[^0-9a-zA-Z_.]|$)/gi;
const ISSUE_REFERENCE = /(?:^|[^\w&])#([0-9]+)\b/g;

/** The `@login`s and `#123` references GitHub would resolve in this markdown. */
export function pingsIn(markdown: string): string[] {
  const text = decodeEntities(
    renderGithubMarkdown(markdown)
      .replace(/<(pre|code|a)\b[^>]*>[\s\S]*?<\/\1>/gi, " ")
      .replace(/<[^>]*>/g, "\n"),
  );
  return [
    ...[...text.matchAll(MENTION)].map((m) => `@${m[1]}`),
    ...[...text.matchAll(ISSUE_REFERENCE)].map((m) => `#${m[1]}`),
  ];
}

/** The HTML elements the rendered markdown holds, by tag name. */
export function tagsIn(markdown: string): Set<string> {
  return new Set(
    [...renderGithubMarkdown(markdown).matchAll(/<([a-z][a-z0-9]*)\b/gi)].map(
      (m) => m[1]?.toLowerCase() ?? "",
    ),
  );
}

/** Each table of the rendered markdown, as the number of cells of each of its rows. */
export function tableShapes(markdown: string): number[][] {
  return [...renderGithubMarkdown(markdown).matchAll(/<table>([\s\S]*?)<\/table>/g)].map((table) =>
    [...(table[1] ?? "").matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map(
      (m) => (m[1]?.match(/<t[hd]\b/g) ?? []).length,
    ),
  );
}

/** Tags our own markdown renders to (no raw HTML from outside may add others). */
const OUR_TAGS = new Set(
  "blockquote code details em h3 h4 li p pre strong summary table tbody td th thead tr ul".split(" "),
);

/**
 * What is wrong with markdown that should hold outside text inertly: pings other than the ones
 * allowed, tags our renderers never write, tables whose rows differ in width. Empty when none.
 */
export function inertnessProblems(markdown: string, allowedPings: readonly string[] = []): string[] {
  const pings = pingsIn(markdown).filter((p) => !allowedPings.includes(p));
  const tags = [...tagsIn(markdown)].filter((t) => !OUR_TAGS.has(t));
  const tables = tableShapes(markdown).filter((rows) => rows.some((n) => n !== rows[0]));
  return [
    ...pings.map((p) => `pings ${p}`),
    ...tags.map((t) => `has a <${t}> element`),
    ...tables.map((rows) => `has a table with rows of ${rows.join(", ")} cells`),
  ];
}

function decodeEntities(html: string): string {
  return html
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n: string) => String.fromCodePoint(Number.parseInt(n, 16)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
}
