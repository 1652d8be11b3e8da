/**
 * A deployment: its facts, why it ran, its hooks' attempts, and every command with its output
 * (streamed while it runs).
 */

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
  /** Every hook attempt: its result in words, duration and output (bounded when stored). */
  hooks: {
    hook: string;
    attempt: number;
    required: boolean;
    result: string;
    tone: string;
    duration: string;
    output: string;
  }[];
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
<div id="started-row"<% if (!it.started) { %> hidden<% } %>><dt>Started</dt><dd id="started"><%= it.started %></dd></div>
<div id="finished-row"<% if (!it.finished) { %> hidden<% } %>><dt>Finished</dt><dd id="finished"><%= it.finished %></dd></div>
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
<% if (it.hooks.length) { %><h2>Hooks</h2>
<div class="scroll"><table>
<caption>Every attempt of the stack's hooks</caption>
<thead><tr><th scope="col">Hook</th><th scope="col">Attempt</th><th scope="col">Result</th><th scope="col">Duration</th><th scope="col">Output</th></tr></thead>
<tbody>
<% for (const h of it.hooks) { %><tr><td><code><%= h.hook %></code><%= h.required ? "" : " (optional)" %></td><td><%= h.attempt %></td><td class="<%= h.tone %>"><%= h.result %></td><td><%= h.duration %></td><td><% if (h.output) { %><pre><%= h.output %></pre><% } else { %><span class="muted">none</span><% } %></td></tr>
<% } %></tbody>
</table></div>
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
