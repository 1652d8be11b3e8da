/**
 * Text from outside (file and directory names, compose keys, error messages, what users type)
 * placed into the markdown we post to GitHub, made inert: it opens no markup, breaks no table,
 * injects no HTML and mentions nobody. Every comment, reply and check-run text goes through here.
 *
 * How GitHub finds mentions (html-pipeline's MentionFilter, as GitHub runs it): in the text of
 * the rendered HTML, outside `pre`, `code` and `a` elements, an `@` followed by a login
 * (`[a-z0-9][a-z0-9-]*`). A backslash does not stop it (`\@x` renders as the text `@x`), so
 * - in text, an invisible U+200B (zero-width space) goes after every `@` that precedes a
 *   letter or digit, and after a `#` that precedes a digit (an issue reference, which would
 *   post a cross-reference into that issue);
 * - names and tokens go into code spans, where nothing is resolved and nothing needs changing.
 */

const ZWSP = "\u200B";

/** Markdown punctuation that could open markup (links, emphasis, HTML, tables, headings, entities). */
const MARKUP = /[\\`*_{}[\]<>|#~&!]/g;

/** Inline text (prose, a table cell): markup escaped, one line, no mention or reference. */
export function escapeMarkdown(text: string): string {
  return unlinked(text.replace(MARKUP, (c) => `\\${c}`).replace(/\r?\n|\r/g, " "));
}

/** Text inside raw HTML (a `<summary>`): entities escaped, no mention or reference. */
export function escapeHtml(text: string): string {
  return unlinked(text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] as string).replace(/\r?\n|\r/g, " "));
}

const HTML_ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** A name inside raw HTML, as code (mentions are not resolved there either). */
export function htmlCode(text: string): string {
  return `<code>${text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c] as string)}</code>`;
}

/**
 * A name or token as a code span: control and format characters (newlines, bidi overrides,
 * zero-width characters that could disguise it) shown as U+FFFD, the delimiter one backtick
 * longer than any run inside, cut to `max` characters. `inTable`: a `|` is escaped, which a
 * table cell needs even inside a code span (GFM).
 */
export function codeSpan(text: string, opts: { max?: number; inTable?: boolean } = {}): string {
  const chars = [...text.replace(/[\p{Cc}\p{Cf}]/gu, "\uFFFD")];
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  let shown = chars.length > max ? `${chars.slice(0, max).join("")}…` : chars.join("");
  let longest = 0;
  for (const run of shown.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  const fence = "`".repeat(longest + 1);
  const pad = longest > 0 || shown.startsWith(" ") ? " " : "";
  if (opts.inTable) shown = shown.replaceAll("|", "\\|");
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/** Text as a fenced code block: the fence is longer than any backtick run inside. */
export function codeBlock(text: string, info = "text"): string {
  let longest = 2;
  for (const run of text.match(/`{3,}/g) ?? []) longest = Math.max(longest, run.length);
  const fence = "`".repeat(longest + 1);
  return `${fence}${info}\n${text}\n${fence}`;
}

/**
 * A mention we mean to make (the person who ran a command), for a login from GitHub's own
 * payload; anything that is not a login's shape is shown as text instead.
 */
export function mention(login: string): string {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(login) ? `@${login}` : escapeMarkdown(login);
}

/** A zero-width space after `@` before a letter or digit, and after `#` before a digit. */
function unlinked(text: string): string {
  return text.replace(/@(?=[A-Za-z0-9])/g, `@${ZWSP}`).replace(/#(?=[0-9])/g, `#${ZWSP}`);
}
