/**
 * One comment per PR, edited in place: found by a hidden marker (`<!-- stackpilot:plan -->`),
 * created only when there is none. Posting a new comment per push is noisy and hits GitHub's
 * secondary rate limits.
 *
 * The comment is made of named sections (the plan, the last deploy), each written on its own:
 * writing one keeps the others (sticky sections below). Two writers of one PR's comment would
 * each find none and create one, so
 * - writes to one PR's comment run one at a time in this process (two plan jobs of one PR do race:
 *   a push and a `/plan` comment arrive together, the worker runs several jobs at once);
 * - across processes (replicas on one database), the caller may pass `exclusive` (a lock they
 *   share) to run writes one at a time there too, so that two writers of different sections
 *   never both edit the body they read (the later edit would drop the other's section);
 * - whether or not, after a create the comments are listed again and only the oldest marked one
 *   is kept: the newer ones are deleted and what was to be written goes into the oldest. Every
 *   later write deletes duplicates it sees, so a writer that died between its create and its
 *   check leaves nothing behind for long.
 *
 * The Octokit client is passed in (a Probot `context.octokit` or an `@octokit/rest` Octokit);
 * its `baseUrl` decides which GitHub (github.com or Enterprise) is talked to.
 */

/** GitHub rejects comment bodies longer than this (`GITHUB_TEXT_LIMIT` of the plan renderer). */
export const COMMENT_LIMIT = 65_535;
/** Pages of 100 comments read at most while looking for the marker (10,000 comments). */
export const MAX_PAGES = 100;
const PER_PAGE = 100;

export interface IssueComment {
  id: number;
  body?: string | null;
  user?: { login: string; type?: string } | null;
  html_url?: string;
}

/** The part of Octokit this module uses. */
export interface CommentsClient {
  rest: {
    issues: {
      listComments(params: {
        owner: string;
        repo: string;
        issue_number: number;
        per_page?: number;
        page?: number;
      }): Promise<{ data: IssueComment[]; headers: { link?: string | undefined } }>;
      createComment(params: {
        owner: string;
        repo: string;
        issue_number: number;
        body: string;
      }): Promise<{ data: IssueComment }>;
      updateComment(params: {
        owner: string;
        repo: string;
        comment_id: number;
        body: string;
      }): Promise<{ data: IssueComment }>;
      deleteComment(params: { owner: string; repo: string; comment_id: number }): Promise<unknown>;
    };
  };
}

export interface StickyTarget {
  owner: string;
  repo: string;
  issue_number: number;
  /** Hidden marker, e.g. `<!-- stackpilot:plan -->`; added at the top of the body when missing. */
  marker: string;
  /**
   * The app's bot login (`my-app[bot]`). When given, only its comments are candidates, so a
   * person who pastes the marker into their own comment never has it overwritten, and only its
   * duplicates are ever deleted. Without it, comments by any `[bot]` login are preferred over
   * others, and nothing is deleted.
   */
  botLogin?: string;
}

export interface StickyCommentInput extends StickyTarget {
  body: string;
}

export interface StickyCommentResult {
  action: "created" | "updated";
  comment: IssueComment;
  /** Ids of duplicate marked comments deleted on the way. */
  deleted: number[];
}

/** Replace the whole marked comment, or create it. */
export function upsertStickyComment(
  octokit: CommentsClient,
  input: StickyCommentInput,
): Promise<StickyCommentResult> {
  return writeSticky(octokit, input, () => input.body);
}

/** Runs a write while no other process writes the same comment (a database lock, say). */
export type Exclusive = <T>(write: () => Promise<T>) => Promise<T>;

/**
 * Write the marked comment: `compose` gets the current body (undefined when there is none yet)
 * and returns the new one. It may be called twice: again with the surviving comment's body when
 * a concurrent writer's comment turned out to be the one to keep.
 */
export function writeSticky(
  octokit: CommentsClient,
  target: StickyTarget,
  compose: (current: string | undefined) => string,
  exclusive: Exclusive = (w) => w(),
): Promise<StickyCommentResult> {
  const key = `${target.owner}/${target.repo}#${target.issue_number}:${target.marker}`;
  return oneAtATime(key, () => exclusive(() => write(octokit, target, compose)));
}

async function write(
  octokit: CommentsClient,
  target: StickyTarget,
  compose: (current: string | undefined) => string,
): Promise<StickyCommentResult> {
  const { owner, repo, issue_number } = target;
  const bodyFor = (current: string | undefined) => withMarker(compose(current), target.marker);
  const found = await findMarkedComments(octokit, target);
  const deleted = await deleteComments(octokit, target, found.duplicates);
  let body: string | undefined;
  if (found.keep) {
    body = bodyFor(found.keep.body ?? undefined);
    try {
      const { data } = await octokit.rest.issues.updateComment({
        owner,
        repo,
        comment_id: found.keep.id,
        body,
      });
      return { action: "updated", comment: data, deleted };
    } catch (err) {
      // Deleted meanwhile (by a person, or as another writer's duplicate): post what it would
      // have become as a new one.
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  const { data: created } = await octokit.rest.issues.createComment({
    owner,
    repo,
    issue_number,
    body: body ?? bodyFor(undefined),
  });
  if (!target.botLogin) return { action: "created", comment: created, deleted };
  // Did another writer create one at the same time? The oldest marked comment wins (ids grow).
  const again = await findMarkedComments(octokit, target, { all: true });
  const [keep, ...losers] = [created, ...(again.keep ? [again.keep] : []), ...again.duplicates]
    .filter((c, i, all) => all.findIndex((d) => d.id === c.id) === i)
    .sort((a, b) => a.id - b.id) as [IssueComment, ...IssueComment[]];
  deleted.push(...(await deleteComments(octokit, target, losers)));
  if (keep.id === created.id) return { action: "created", comment: created, deleted };
  const { data } = await octokit.rest.issues.updateComment({
    owner,
    repo,
    comment_id: keep.id,
    body: bodyFor(keep.body ?? undefined),
  });
  return { action: "updated", comment: data, deleted };
}

/**
 * The comment holding the marker: with `botLogin`, the first one by that login; else the first
 * by a `[bot]` login, else the first by anyone. Stops paging as soon as the answer is certain.
 */
export async function findMarkedComment(
  octokit: CommentsClient,
  input: StickyTarget,
): Promise<IssueComment | undefined> {
  return (await findMarkedComments(octokit, input)).keep;
}

/**
 * The comment to keep (as findMarkedComment) and, with `botLogin`, the app's other marked
 * comments seen on the pages read (GitHub lists oldest first, so those are newer). `all` reads
 * every page instead of stopping at the first match.
 */
async function findMarkedComments(
  octokit: CommentsClient,
  input: StickyTarget,
  opts: { all?: boolean } = {},
): Promise<{ keep?: IssueComment; duplicates: IssueComment[] }> {
  const { owner, repo, issue_number, marker } = input;
  const wanted = input.botLogin?.toLowerCase();
  let fallback: IssueComment | undefined;
  let keep: IssueComment | undefined;
  const duplicates: IssueComment[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const res = await octokit.rest.issues.listComments({
      owner,
      repo,
      issue_number,
      per_page: PER_PAGE,
      page,
    });
    for (const c of res.data) {
      if (!c.body?.includes(marker)) continue;
      const login = c.user?.login.toLowerCase() ?? "";
      if (wanted !== undefined) {
        if (login !== wanted) continue;
        if (keep) duplicates.push(c);
        else keep = c;
      } else if (login.endsWith("[bot]")) return { keep: c, duplicates };
      else fallback ??= c;
    }
    if (keep && !opts.all) break;
    if (res.data.length < PER_PAGE || !/\brel="next"/.test(res.headers.link ?? "")) break;
  }
  const found = keep ?? fallback;
  return { ...(found ? { keep: found } : {}), duplicates };
}

/** Delete comments, tolerating ones already gone (another writer deleted them first). */
async function deleteComments(
  octokit: CommentsClient,
  target: StickyTarget,
  comments: readonly IssueComment[],
): Promise<number[]> {
  const deleted: number[] = [];
  for (const c of comments) {
    try {
      await octokit.rest.issues.deleteComment({ owner: target.owner, repo: target.repo, comment_id: c.id });
      deleted.push(c.id);
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  return deleted;
}

/** The marker must be in the body and survive truncation, or the next run would post a second comment. */
function withMarker(text: string, marker: string): string {
  const body = boundComment(text);
  return body.includes(marker) ? body : boundComment(`${marker}\n${text}`);
}

// Sticky sections: `<!-- stackpilot:section NAME k=v -->` opens a section that runs to the next.

export interface Section {
  name: string;
  /** Small facts kept in the section's marker (e.g. the commit a deploy was of). */
  attrs: Record<string, string>;
  text: string;
}

const SECTION_RE = /^<!-- stackpilot:section ([a-z-]+)((?: [a-z-]+=[A-Za-z0-9._-]*)*) -->$/gm;

/**
 * The sections of a comment body, in order. A body from before sections existed (the plan alone
 * under the marker) reads as one section named `legacy` holding all of it.
 */
export function parseSections(body: string, marker: string): Section[] {
  const matches = [...body.matchAll(SECTION_RE)];
  if (matches.length === 0) {
    const text = body.replace(marker, "").trim();
    return text ? [{ name: "legacy", attrs: {}, text }] : [];
  }
  return matches.map((m, i) => {
    const attrs: Record<string, string> = {};
    for (const pair of (m[2] ?? "").trim().split(" ").filter(Boolean)) {
      const [k, v = ""] = pair.split("=") as [string, string?];
      attrs[k] = v;
    }
    const start = (m.index ?? 0) + m[0].length;
    const end = matches[i + 1]?.index ?? body.length;
    return { name: m[1] as string, attrs, text: body.slice(start, end).trim() };
  });
}

/** The body for a list of sections: the marker, then each section under its own marker. */
export function renderSections(marker: string, sections: readonly Section[]): string {
  return [marker, ...sections.map(renderSection)].join("\n");
}

function renderSection(s: Section): string {
  const attrs = Object.entries(s.attrs)
    .filter(([k, v]) => /^[a-z-]+$/.test(k) && /^[A-Za-z0-9._-]*$/.test(v))
    .map(([k, v]) => ` ${k}=${v}`)
    .join("");
  // Text from outside (error messages) must not open a section of its own.
  const text = s.text.replace(/<!--\s*stackpilot:/g, "&lt;!-- stackpilot:");
  return `<!-- stackpilot:section ${s.name}${attrs} -->\n${text}\n`;
}

const TRUNCATED = "\n\n_…truncated: the comment exceeded GitHub's 65,535-character limit._\n";

/** At most COMMENT_LIMIT UTF-16 units (GitHub counts characters; this never exceeds it). */
export function boundComment(body: string, limit = COMMENT_LIMIT): string {
  if (body.length <= limit) return body;
  let end = limit - TRUNCATED.length;
  const code = body.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return body.slice(0, end) + TRUNCATED;
}

/** Runs `fn` after every earlier call with the same key has settled. */
const chains = new Map<string, Promise<unknown>>();
function oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = chains.get(key) ?? Promise.resolve();
  const run = before.then(fn, fn);
  const tail = run.catch(() => {});
  chains.set(key, tail);
  void tail.then(() => {
    if (chains.get(key) === tail) chains.delete(key);
  });
  return run;
}
