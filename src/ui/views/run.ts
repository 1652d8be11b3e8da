/** `/ui/runs/:id`: a procedure run, every stage and step, the deployments its steps made. */
import type { RunRowView } from "../pages/runModel.ts";

export interface RunData {
  id: number;
  procedure: string;
  repo: string;
  branch: string | null;
  head: { short: string; url: string | undefined } | undefined;
  trigger: string;
  status: string;
  tone: string;
  reason: string;
  error: string;
  created: string;
  started: string;
  finished: string;
  duration: string;
  rows: RunRowView[];
}

export const run = `<h1>Run <%= it.id %>: <%= it.procedure %></h1>
<dl class="facts">
<dt>State</dt><dd><span class="<%= it.tone %>"><%= it.status %></span><% if (it.reason) { %> (<%= it.reason %>)<% } %></dd>
<dt>Repository</dt><dd><%= it.repo %><% if (it.branch) { %> <code><%= it.branch %></code><% } %></dd>
<% if (it.head) { %><dt>Commit</dt><dd><% if (it.head.url) { %><a href="<%= it.head.url %>"><code><%= it.head.short %></code></a><% } else { %><code><%= it.head.short %></code><% } %></dd>
<% } %>
<dt>Trigger</dt><dd><%= it.trigger %></dd>
<dt>Queued</dt><dd><%= it.created %></dd>
<% if (it.started) { %><dt>Started</dt><dd><%= it.started %></dd>
<% } %>
<% if (it.finished) { %><dt>Finished</dt><dd><%= it.finished %><% if (it.duration) { %> (<%= it.duration %>)<% } %></dd>
<% } %>
</dl>
<% if (it.error) { %><pre class="bad notice"><%= it.error %></pre>
<% } %>
<% if (it.rows.length === 0) { %><p class="muted">No stages: the run has not started, or it deploys what changed.</p>
<% } else { %><div class="scroll"><table>
<caption>Stages and steps</caption>
<thead><tr><th scope="col">Stage / step</th><th scope="col">Kind</th><th scope="col">State</th><th scope="col">Why</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Deployments</th></tr></thead>
<tbody>
<% for (const s of it.rows) { %><tr<% if (s.stage) { %> class="stage"<% } %>><th scope="row" class="depth<%= Math.min(s.depth, 4) %>"><%= s.name %></th><td><%= s.kind %></td><td class="<%= s.tone %>"><%= s.status %><% if (s.attempts) { %> (attempt <%= s.attempts %>)<% } %></td><td><%= s.why %></td><td><%= s.started %></td><td><%= s.duration %></td><td><% if (s.targets.length) { %><ul class="targets">
<% for (const t of s.targets) { %><li><% if (t.href) { %><a href="<%= t.href %>"><%= t.stack %> on <%= t.host %></a><% } else { %><%= t.stack %> on <%= t.host %><% } %>: <%= t.status %></li>
<% } %></ul><% } %></td></tr>
<% } %></tbody>
</table></div>
<% } %>
`;
