/**
 * The UI's static files: one small stylesheet, an icon, and the script that streams a running
 * deployment's log (the pages work without it: they then reload themselves while it runs).
 * Served under a content hash, so they can be cached for good.
 */
import { createHash } from "node:crypto";
import type { ServerResponse } from "node:http";

const STYLE = `
:root{color-scheme:light dark;--ok:#1a7f37;--bad:#cf222e;--run:#9a6700;--muted:#57606a;--line:#d0d7de}
@media (prefers-color-scheme:dark){:root{--ok:#3fb950;--bad:#f85149;--run:#d29922;--muted:#8b949e;--line:#30363d}}
body{font:14px/1.4 system-ui,sans-serif;margin:0 1rem 2rem}
header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between;border-bottom:1px solid var(--line);padding:.5rem 0;margin-bottom:1rem}
header nav a{margin-right:1rem;font-weight:600}
header form{margin:0}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:Canvas;padding:.25rem}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:2px solid Highlight;outline-offset:2px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.5rem}h3{font-size:1rem}
.counts{display:flex;gap:1.5rem;list-style:none;padding:0}.counts b{font-size:1.2rem;display:block}
form.filters{display:flex;gap:.75rem;align-items:end;flex-wrap:wrap}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0}
.scroll{overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--line);padding:.2rem .4rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.matrix td{white-space:nowrap}table.matrix th{overflow-wrap:anywhere}table.matrix th[scope=row]{min-width:8rem}
caption,h1,h2{overflow-wrap:anywhere}
thead th{position:sticky;top:0;background:Canvas}
caption{text-align:left;font-weight:600;padding:.25rem 0}
td.ok{border-left:3px solid var(--ok)}td.bad{border-left:3px solid var(--bad)}td.run{border-left:3px solid var(--run)}
.bad,.bad a{color:var(--bad)}.run{color:var(--run)}.muted{color:var(--muted)}
code,pre{font:12px/1.35 ui-monospace,monospace}
pre{white-space:pre-wrap;word-break:break-all;margin:.25rem 0 .75rem;padding:.5rem;border:1px solid var(--line);max-height:40rem;overflow:auto}
ol.log{padding-left:1.5rem}ol.log code{white-space:pre-wrap;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dl.facts dt{font-weight:600}dl.facts>div:not([hidden]){display:contents}
tr.stage th{font-weight:700}.depth1{padding-left:1.25rem}.depth2{padding-left:2.5rem}.depth3{padding-left:3.75rem}.depth4{padding-left:5rem}
ul.targets{margin:0;padding-left:1rem}
.notice{border:1px solid var(--line);padding:.5rem;margin:.5rem 0}
`;

/**
 * Opens the deployment's event stream and appends each command as it is recorded (text only);
 * at its end, shows the result, the error and the start and finish times without a reload.
 */
const LIVE = `
"use strict";
(function () {
  var log = document.getElementById("log");
  var status = document.getElementById("status");
  if (!log || !window.EventSource) return;
  var source = new EventSource(log.dataset.events + "?after=" + encodeURIComponent(log.dataset.after || "0"));
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  source.addEventListener("log", function (ev) {
    var c = JSON.parse(ev.data);
    var li = el("li");
    li.dataset.seq = String(c.seq);
    var head = el("div");
    head.appendChild(el("code", c.command));
    head.appendChild(document.createTextNode(" "));
    head.appendChild(el("span", c.code === null ? "(no exit code)" : "exit " + c.code, c.code === 0 ? "" : "bad"));
    li.appendChild(head);
    if (c.output) li.appendChild(el("pre", c.output));
    log.appendChild(li);
    log.dataset.after = String(c.seq);
  });
  function showStatus(d) {
    if (!status) return;
    status.textContent = d.word;
    status.className = d.tone;
  }
  source.addEventListener("status", function (ev) {
    showStatus(JSON.parse(ev.data));
  });
  source.addEventListener("end", function (ev) {
    var d = JSON.parse(ev.data);
    showStatus(d);
    var note = document.getElementById("live-note");
    if (note) note.hidden = true;
    ["started", "finished"].forEach(function (name) {
      var row = document.getElementById(name + "-row");
      var value = document.getElementById(name);
      if (d[name] && row && value) { value.textContent = d[name]; row.hidden = false; }
    });
    if (d.error) {
      var err = document.getElementById("error");
      if (err) { err.hidden = false; err.textContent = d.error; }
    }
    source.close();
  });
})();
`;

/**
 * The tab's icon: linked from every page, so browsers do not ask the App for /favicon.ico (a 404
 * in every page's console otherwise).
 */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1a7f37"/><path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>`;

interface Asset {
  path: string;
  type: string;
  body: string;
  etag: string;
}

function asset(name: string, type: string, body: string): Asset {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return { path: `/ui/static/${name}`, type, body, etag: `"${hash}"` };
}

const ASSETS = [
  asset("style.css", "text/css", STYLE),
  asset("live.js", "text/javascript", LIVE),
  asset("icon.svg", "image/svg+xml", ICON),
];

/** The URLs pages link to (with the content hash, so a changed file is fetched anew). */
export const ASSET_URLS = {
  css: `${ASSETS[0]?.path}?v=${ASSETS[0]?.etag.slice(1, -1)}`,
  js: `${ASSETS[1]?.path}?v=${ASSETS[1]?.etag.slice(1, -1)}`,
  icon: `${ASSETS[2]?.path}?v=${ASSETS[2]?.etag.slice(1, -1)}`,
};

/** Serves a static file; false when the path is not one. They hold no data: no sign-in needed. */
export function serveStatic(path: string, res: ServerResponse, ifNoneMatch: string | undefined): boolean {
  const a = ASSETS.find((x) => x.path === path);
  if (!a) return false;
  const headers = {
    "content-type": `${a.type}; charset=utf-8`,
    "cache-control": "public, max-age=31536000, immutable",
    etag: a.etag,
    "x-content-type-options": "nosniff",
  };
  if (ifNoneMatch === a.etag) res.writeHead(304, headers).end();
  else res.writeHead(200, headers).end(a.body);
  return true;
}
