/** `/ui/deployments`: the latest deployments, filtered by repository, stack and host. */

export interface DeploymentsData {
  filters: { repo: string; stack: string; host: string };
  rows: {
    href: string;
    id: number;
    repo: string;
    stack: string;
    host: string;
    commit: string;
    status: string;
    tone: string;
    actor: string;
    trigger: string;
    created: string;
  }[];
}

export const deployments = `<h1>Deployments</h1>
<form class="filters" method="get" action="/ui/deployments">
<label>Repository<input name="repo" value="<%= it.filters.repo %>" maxlength="256"></label>
<label>Stack<input name="stack" value="<%= it.filters.stack %>" maxlength="256"></label>
<label>Host<input name="host" value="<%= it.filters.host %>" maxlength="256"></label>
<button type="submit">Filter</button>
</form>
<% if (it.rows.length === 0) { %><p>No deployments that you can see.</p>
<% } else { %><div class="scroll"><table>
<caption>Newest first</caption>
<thead><tr><th scope="col">Deployment</th><th scope="col">Repository</th><th scope="col">Stack</th><th scope="col">Host</th><th scope="col">Commit</th><th scope="col">Result</th><th scope="col">By</th><th scope="col">Queued</th></tr></thead>
<tbody>
<% for (const d of it.rows) { %><tr><td><a href="<%= d.href %>"><%= d.id %></a></td><td><%= d.repo %></td><td><%= d.stack %></td><td><%= d.host %></td><td><code><%= d.commit %></code></td><td class="<%= d.tone %>"><%= d.status %></td><td><%= d.actor %> (<%= d.trigger %>)</td><td><%= d.created %></td></tr>
<% } %></tbody>
</table></div>
<% } %>
`;
