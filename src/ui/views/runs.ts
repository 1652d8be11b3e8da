/** `/ui/runs`: the latest procedure runs, filtered by repository. */

export interface RunsData {
  filters: { repo: string };
  rows: {
    href: string;
    id: number;
    repo: string;
    procedure: string;
    trigger: string;
    status: string;
    tone: string;
    started: string;
    duration: string;
  }[];
}

export const runs = `<h1>Procedure runs</h1>
<form class="filters" method="get" action="/ui/runs">
<label>Repository<input name="repo" value="<%= it.filters.repo %>" maxlength="256"></label>
<button type="submit">Filter</button>
</form>
<% if (it.rows.length === 0) { %><p>No procedure runs that you can see.</p>
<% } else { %><div class="scroll"><table>
<caption>Newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Repository</th><th scope="col">Procedure</th><th scope="col">Trigger</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Duration</th></tr></thead>
<tbody>
<% for (const r of it.rows) { %><tr><td><a href="<%= r.href %>"><%= r.id %></a></td><td><%= r.repo %></td><td><%= r.procedure %></td><td><%= r.trigger %></td><td class="<%= r.tone %>"><%= r.status %></td><td><%= r.started %></td><td><%= r.duration %></td></tr>
<% } %></tbody>
</table></div>
<% } %>
`;
