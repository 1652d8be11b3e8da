/**
 * The page around every view (Eta: `<%= %>` escapes, `<%~ %>` is raw and used only for the
 * view's own rendered HTML, `it.body`).
 */
export interface LayoutData {
  title: string;
  css: string;
  icon: string;
  /** The live-log script, on pages that stream. */
  js?: string | undefined;
  /**
   * The page reloads itself this often: without JavaScript where a live script keeps it current
   * (a running deployment), always where none does (a running procedure run).
   */
  refreshS?: number | undefined;
  /** The signed-in user's name, and the CSRF token of the sign-out form. */
  who?: string | undefined;
  csrf?: string | undefined;
  body: string;
}

export const layout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · Stackpilot</title>
<link rel="stylesheet" href="<%= it.css %>">
<link rel="icon" href="<%= it.icon %>" type="image/svg+xml">
<% if (it.refreshS && it.js) { %><noscript><meta http-equiv="refresh" content="<%= it.refreshS %>"></noscript>
<% } else if (it.refreshS) { %><meta http-equiv="refresh" content="<%= it.refreshS %>">
<% } %>
<% if (it.js) { %><script src="<%= it.js %>" defer></script>
<% } %>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Stackpilot"><a href="/ui">Stacks</a><a href="/ui/deployments">Deployments</a><a href="/ui/locks">Locks</a><a href="/ui/runs">Runs</a></nav>
<% if (it.who) { %><form method="post" action="/ui/auth/signout"><span class="muted">Signed in as <%= it.who %></span>
<% if (it.csrf) { %><input type="hidden" name="csrf" value="<%= it.csrf %>"><button type="submit">Sign out</button><% } %>
</form>
<% } %>
</header>
<main id="main">
<%~ it.body %>
</main>
</body>
</html>
`;
