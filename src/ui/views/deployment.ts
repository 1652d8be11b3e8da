/** A deployment: its facts, why it ran, and every command with its output (streamed while it runs). */

export interface DeploymentData {
  id: number;
  repo: string;
  stack: string;
  host: string;
  environment: string | null;
  commit: { sha: string; url: string | undefined; subject: string | null };
  status: string;
  tone: string;
  actor: string;
  trigger: string;
  created: string;
  started: string;
  finished: string;
  release: string | null;
  rolloutId: number | null;
  error: string | null;
  reasons: string[];
  logs: { seq: number; command: string; code: number | null; output: string }[];
  /** The seq after which the live stream starts; undefined once the deployment has ended. */
  liveAfter: number | undefined;
  eventsUrl: string;
}

export const deployment = `<h1>Deployment <%= it.id %>: <%= it.stack %> on <%= it.host %></h1>
<dl class="facts">
<dt>Status</dt><dd><span id="status" class="<%= it.tone %>" role="status"><%= it.status %></span></dd>
<dt>Repository</dt><dd><%= it.repo %></dd>
<dt>Environment</dt><dd><%= it.environment ?? "not recorded" %></dd>
<dt>Commit</dt><dd><% if (it.commit.url) { %><a href="<%= it.commit.url %>"><code><%= it.commit.sha %></code></a><% } else { %><code><%= it.commit.sha %></code><% } %><% if (it.commit.subject) { %> <q><%= it.commit.subject %></q><% } %></dd>
<dt>Actor</dt><dd><%= it.actor %></dd>
<dt>Trigger</dt><dd><%= it.trigger %></dd>
<dt>Queued</dt><dd><%= it.created %></dd>
<% if (it.started) { %><dt>Started</dt><dd><%= it.started %></dd>
<% } %>
<% if (it.finished) { %><dt>Finished</dt><dd><%= it.finished %></dd>
<% } %>
<% if (it.release) { %><dt>Release</dt><dd><code><%= it.release %></code></dd>
<% } %>
<% if (it.rolloutId !== null) { %><dt>Rollout</dt><dd><%= it.rolloutId %></dd>
<% } %>
</dl>
<p id="error" class="bad notice"<% if (!it.error) { %> hidden<% } %>><%= it.error ?? "" %></p>
<h2>Why</h2>
<% if (it.reasons.length) { %><ul>
<% for (const r of it.reasons) { %><li><%= r %></li>
<% } %></ul>
<% } else { %><p class="muted">No plan reasons were recorded (a rollback, or a deployment from before they were).</p>
<% } %>
<h2>Commands</h2>
<% if (it.liveAfter !== undefined) { %><p class="muted" id="live-note">Running: new commands appear below as they are recorded.</p>
<% } %>
<ol class="log" id="log" data-events="<%= it.eventsUrl %>" data-after="<%= it.liveAfter ?? "" %>">
<% for (const l of it.logs) { %><li data-seq="<%= l.seq %>"><div><code><%= l.command %></code> <span class="<%= l.code === 0 ? "" : "bad" %>"><%= l.code === null ? "(no exit code)" : "exit " + l.code %></span></div>
<% if (l.output) { %><pre><%= l.output %></pre>
<% } %></li>
<% } %></ol>
<% if (it.logs.length === 0 && it.liveAfter === undefined) { %><p class="muted">No command was recorded.</p>
<% } %>
`;
