/** The sign-in page (also the body of every 401): it shows no data. */

export interface LoginData {
  github: boolean;
  token: boolean;
  next: string;
  /** CSRF token of the token form (double-submit: the same value is in a cookie). */
  csrf: string;
  message: string | undefined;
}

export const login = `<h1>Sign in to Stackpilot</h1>
<% if (it.message) { %><p class="notice" role="alert"><%= it.message %></p>
<% } %>
<% if (it.github) { %><p><a href="/ui/auth/github?next=<%= encodeURIComponent(it.next) %>">Sign in with GitHub</a></p>
<% } %>
<% if (it.token) { %><form method="post" action="/ui/auth/token">
<input type="hidden" name="csrf" value="<%= it.csrf %>"><input type="hidden" name="next" value="<%= it.next %>">
<label>Access token <input type="password" name="token" autocomplete="off" required maxlength="256"></label>
<button type="submit">Sign in with the token</button>
</form>
<% } %>
<% if (!it.github && !it.token) { %><p>Sign-in is not configured: set <code>GITHUB_CLIENT_ID</code>, <code>GITHUB_CLIENT_SECRET</code> and <code>STACKPILOT_UI_URL</code> for GitHub sign-in, or <code>STACKPILOT_UI_TOKEN</code>.</p>
<% } %>
`;
