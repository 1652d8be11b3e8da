/** `/ui/locks`: who holds which target, since when and why, with an Unlock button. */

export interface LocksData {
  csrf: string | undefined;
  done: string | undefined;
  deploy: {
    repo: string;
    stack: string;
    host: string;
    holder: string;
    since: string;
    expires: string;
    expired: boolean;
    why: { text: string; href: string | undefined } | undefined;
  }[];
  /** Other database locks (builds, rollouts, comments): shown to token holders only. */
  other: { key: string; holder: string; since: string; expires: string }[] | undefined;
}

export const locks = `<h1>Locks</h1>
<% if (it.done) { %><p class="notice" role="status"><%= it.done %></p>
<% } %>
<% if (it.deploy.length === 0) { %><p>No deploy locks are held on targets you can see.</p>
<% } else { %><div class="scroll"><table>
<caption>Deploy locks (one per stack and host)</caption>
<thead><tr><th scope="col">Repository</th><th scope="col">Stack</th><th scope="col">Host</th><th scope="col">Holder</th><th scope="col">Since</th><th scope="col">Expires</th><th scope="col">Why</th><th scope="col">Action</th></tr></thead>
<tbody>
<% for (const l of it.deploy) { %><tr><td><%= l.repo %></td><td><%= l.stack %></td><td><%= l.host %></td><td><%= l.holder %></td><td><%= l.since %></td><td><%= l.expires %><%= l.expired ? " (expired)" : "" %></td><td><% if (l.why) { %><% if (l.why.href) { %><a href="<%= l.why.href %>"><%= l.why.text %></a><% } else { %><%= l.why.text %><% } %><% } else { %><span class="muted">no running deployment</span><% } %></td>
<td><form method="post" action="/ui/locks/unlock"><% if (it.csrf) { %><input type="hidden" name="csrf" value="<%= it.csrf %>"><% } %><input type="hidden" name="repo" value="<%= l.repo %>"><input type="hidden" name="stack" value="<%= l.stack %>"><input type="hidden" name="host" value="<%= l.host %>"><button type="submit" aria-label="Unlock <%= l.stack %> on <%= l.host %>">Unlock</button></form></td></tr>
<% } %></tbody>
</table></div>
<p class="muted">Unlock frees the database lock: a deploy holding it stops before its next step. It needs the permission the <code>/unlock</code> command needs in the stack's environment.</p>
<% } %>
<% if (it.other && it.other.length) { %><div class="scroll"><table>
<caption>Other locks</caption>
<thead><tr><th scope="col">Key</th><th scope="col">Holder</th><th scope="col">Since</th><th scope="col">Expires</th></tr></thead>
<tbody>
<% for (const l of it.other) { %><tr><td><code><%= l.key %></code></td><td><%= l.holder %></td><td><%= l.since %></td><td><%= l.expires %></td></tr>
<% } %></tbody>
</table></div>
<% } %>
`;
