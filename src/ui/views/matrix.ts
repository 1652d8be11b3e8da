/** `/ui`: counts, filters, and per repository and environment the stacks x hosts matrix. */
import type { MatrixView } from "../pages/matrixModel.ts";

export interface MatrixData extends MatrixView {
  filters: { stack: string; host: string; repo: string };
  /** Repositories the viewer can read that the store knows, for the filter. */
  repoChoices: string[];
}

// Cells are written tightly, a row to a line: 10,000 of them make the page (bench/ui.bench.ts).
// A drift word in the default colour needs no element of its own.
export const matrix = `<h1>Stacks</h1>
<ul class="counts" aria-label="Counts">
<li><b><%= it.counts.deployed %></b> deployed</li>
<li><b><%= it.counts.failed %></b> failed</li>
<li><b><%= it.counts.drifted %></b> drifted</li>
<li><b><%= it.counts.locked %></b> locked</li>
</ul>
<form class="filters" method="get" action="/ui">
<label>Stack (glob)<input name="stack" value="<%= it.filters.stack %>" maxlength="256"></label>
<label>Host (glob)<input name="host" value="<%= it.filters.host %>" maxlength="256"></label>
<label>Repository<select name="repo"><option value="">all</option>
<% for (const r of it.repoChoices) { %><option<%= r === it.filters.repo ? " selected" : "" %>><%= r %></option>
<% } %></select></label>
<button type="submit">Filter</button>
</form>
<% if (it.counts.drifted === "unknown") { %><p class="muted">Drift: unknown (no drift checks recorded).</p>
<% } %>
<% if (it.repos.length === 0) { %><p>Nothing deployed that you can see<%= it.filters.stack || it.filters.host ? " with these filters" : "" %>.</p>
<% } %>
<% for (const r of it.repos) { %>
<section aria-labelledby="repo-<%= r.repo %>">
<h2 id="repo-<%= r.repo %>"><%= r.repo %></h2>
<% for (const e of r.environments) { %>
<div class="scroll"><table class="matrix">
<caption><%= e.name %></caption>
<thead><tr><th scope="col">Stack</th><% for (const h of e.hosts) { %><th scope="col"><%= h %></th><% } %></tr></thead>
<tbody>
<% for (const row of e.rows) { %><tr><th scope="row"><a href="/ui/deployments?repo=<%= encodeURIComponent(r.repo) %>&amp;stack=<%= encodeURIComponent(row.stack) %>"><%= row.stack %></a></th>
<% for (const c of row.cells) { %><td<% if (c.span > 1) { %> colspan="<%= c.span %>"<% } %><% if (c.tone) { %> class="<%= c.tone %>"<% } %>><% if (!c.empty) { %><% if (c.commit) { %><% if (c.commit.url) { %><a href="<%= c.commit.url %>"><%= c.commit.short %></a><% } else { %><%= c.commit.short %><% } %> <%= c.age %><% } else { %>none<% } %><% if (c.result) { %> <% if (c.result.href) { %><a href="<%= c.result.href %>"><%= c.result.word %></a><% } else { %><%= c.result.word %><% } %><% } %><% if (c.drift) { %> <% if (c.drift.tone) { %><span class="<%= c.drift.tone %>"><% } %><%= c.drift.word %><% if (c.drift.details) { %>: <%= c.drift.details %><% } %><% if (c.drift.tone) { %></span><% } %><% } %><% if (c.lock) { %> locked by <%= c.lock %><% } %><% if (c.pinned) { %> pinned<% } %><% } %></td><% } %></tr>
<% } %></tbody>
</table></div>
<% } %>
</section>
<% } %>
`;
