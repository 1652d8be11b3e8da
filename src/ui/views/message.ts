/** A refusal or an error, in words. */

export interface MessageData {
  heading: string;
  text: string;
  back: string | undefined;
}

export const message = `<h1><%= it.heading %></h1>
<p class="notice" role="alert"><%= it.text %></p>
<% if (it.back) { %><p><a href="<%= it.back %>">Back</a></p>
<% } %>
`;
