"""The GraphiQL page served at the endpoint itself (the ``graphiql`` setting).

The page runs queries and mutations with ``fetch`` (POST to the same URL)
and subscriptions over the transport a switch above GraphiQL picks: a
WebSocket to the same URL (graphql-transport-ws), Server-Sent Events
(graphql-sse's distinct connections mode) or Apollo's multipart
subscriptions, each spoken by a few lines of the page's own script, so it
needs nothing but GraphiQL and React. ``?transport=ws|sse|multipart``
preselects the switch; the choice is remembered in the browser.

GraphiQL and React, four files, come from ``base_url``, laid out as
npm CDNs lay out packages (``<package>@<version>/<file>``): a public CDN
by default, or a folder of the user's own with the same four files (the
example serves its offline copy that way). Each is pinned by its
Subresource Integrity hash, so a copy that differs from the npm release is
refused by the browser.
"""

from __future__ import annotations

import html

#: Where the page loads GraphiQL and React from unless told otherwise.
DEFAULT_BASE_URL = "https://cdn.jsdelivr.net/npm/"

#: The files the page loads, relative to the base URL, with their SRI hashes
#: (sha384 of the files in the npm packages). GraphiQL 4 is the last line
#: published with a browser (UMD) build; it runs on React 18's UMD build.
ASSETS = {
    "react": (
        "react@18.3.1/umd/react.production.min.js",
        "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z",
    ),
    "react-dom": (
        "react-dom@18.3.1/umd/react-dom.production.min.js",
        "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1",
    ),
    "graphiql": (
        "graphiql@4.1.2/graphiql.min.js",
        "sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B",
    ),
    "graphiql-css": (
        "graphiql@4.1.2/graphiql.min.css",
        "sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr",
    ),
}

# The page's script. `fetcher` is GraphiQL's: a subscription (told by the
# document GraphiQL passes) goes over the WebSocket, anything else is POSTed.
_SCRIPT = """
const endpoint = window.location.pathname;
const wsUrl = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + endpoint;

function operationType(documentAST, operationName) {
  const operations = (documentAST?.definitions ?? []).filter(
    (d) => d.kind === "OperationDefinition");
  const chosen = operationName
    ? operations.find((d) => d.name?.value === operationName)
    : operations.length === 1 ? operations[0] : undefined;
  return chosen?.operation;
}

async function post(params, headers) {
  const response = await fetch(endpoint, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...headers,
    },
    body: JSON.stringify(params),
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `HTTP ${response.status}: ${text}` }] };
  }
}

// graphql-transport-ws over one lazily opened socket, shared by subscriptions.
let socket = null;
let nextId = 1;
const sinks = new Map();
function openSocket() {
  if (socket) return socket;
  socket = new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, "graphql-transport-ws");
    ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init" }));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      const sink = sinks.get(message.id);
      if (message.type === "connection_ack") resolve(ws);
      else if (message.type === "ping") ws.send(JSON.stringify({ type: "pong" }));
      else if (message.type === "next" && sink) sink.next(message.payload);
      else if (message.type === "error" && sink) {
        sinks.delete(message.id);
        sink.error(message.payload);
      } else if (message.type === "complete" && sink) {
        sinks.delete(message.id);
        sink.complete();
      }
    };
    ws.onclose = (event) => {
      socket = null;
      reject(new Error(`WebSocket closed: ${event.code} ${event.reason}`));
      for (const sink of sinks.values()) sink.error(new Error(`WebSocket closed: ${event.code}`));
      sinks.clear();
    };
  });
  return socket;
}

function subscribe(params) {
  return {
    subscribe(observer) {
      const id = String(nextId++);
      let ws = null;
      let stopped = false;
      sinks.set(id, {
        next: (value) => observer.next(value),
        error: (error) => observer.error(error),
        complete: () => observer.complete(),
      });
      openSocket().then((open) => {
        ws = open;
        if (!stopped) ws.send(JSON.stringify({ id, type: "subscribe", payload: params }));
      }, (error) => observer.error(error));
      return {
        unsubscribe() {
          stopped = true;
          if (sinks.delete(id) && ws) ws.send(JSON.stringify({ id, type: "complete" }));
        },
      };
    },
  };
}

// A subscription as one streaming POST: SSE or multipart. `parse` turns the
// text received so far into results, returning what is left unparsed and
// whether the stream said it is complete.
function streamed(params, accept, parse) {
  return {
    subscribe(observer) {
      const abort = new AbortController();
      let done = false;
      const finish = (error) => {
        if (done) return;
        done = true;
        if (error) observer.error(error);
        else observer.complete();
      };
      (async () => {
        const response = await fetch(endpoint, {
          method: "POST",
          credentials: "same-origin",
          headers: { "content-type": "application/json", accept },
          body: JSON.stringify(params),
          signal: abort.signal,
        });
        if (!response.ok || !response.body) {
          observer.next(await response.json().catch(() => ({
            errors: [{ message: `HTTP ${response.status}` }] })));
          return finish();
        }
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let text = "";
        for (;;) {
          const { value, done: ended } = await reader.read();
          if (ended) return finish();
          text += decoder.decode(value, { stream: true });
          const parsed = parse(text, (result) => observer.next(result));
          text = parsed.rest;
          if (parsed.complete) {
            abort.abort();
            return finish();
          }
        }
      })().catch((error) => {
        if (!abort.signal.aborted) finish(error);
      });
      return { unsubscribe() { done = true; abort.abort(); } };
    },
  };
}

// graphql-sse, distinct connections mode: `next` events, then `complete`.
function parseEvents(text, next) {
  const blocks = text.split("\\n\\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = null;
    let data = "";
    for (const line of block.split("\\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (event === "next") next(JSON.parse(data));
    else if (event === "complete") return { rest: "", complete: true };
  }
  return { rest, complete: false };
}

// Apollo multipart subscriptions: `{"payload": ...}` parts, `{}` heartbeats,
// then the close delimiter. A part is taken once its JSON is whole.
function parseParts(text, next) {
  const boundary = "\\r\\n--graphql";
  let rest = text;
  while (rest.startsWith(boundary)) {
    const after = rest.slice(boundary.length);
    if (after.startsWith("--")) return { rest: "", complete: true };
    const end = after.indexOf(boundary);
    const part = end === -1 ? after : after.slice(0, end);
    const start = part.indexOf("\\r\\n\\r\\n");
    let message;
    try {
      message = JSON.parse(part.slice(start + 4));
    } catch (error) {
      if (end === -1) break;  // the rest of it is still on its way
      throw error;
    }
    if (message.payload) next(message.payload);
    else if (message.errors) next({ errors: message.errors });
    rest = end === -1 ? "" : after.slice(end);
  }
  return { rest, complete: false };
}

const ACCEPT_EVENTS = "text/event-stream";
const ACCEPT_MULTIPART =
  "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json;q=0.9";
const TRANSPORT_KEY = "graphql-endpoint:subscription-transport";
const search = new URLSearchParams(window.location.search);
const transportSwitch = document.getElementById("subscription-transport");
transportSwitch.value =
  search.get("transport") || window.localStorage.getItem(TRANSPORT_KEY) || "ws";
transportSwitch.addEventListener("change", () =>
  window.localStorage.setItem(TRANSPORT_KEY, transportSwitch.value));

function fetcher(params, options) {
  if (operationType(options?.documentAST, params.operationName) === "subscription") {
    if (transportSwitch.value === "sse") return streamed(params, ACCEPT_EVENTS, parseEvents);
    if (transportSwitch.value === "multipart") {
      return streamed(params, ACCEPT_MULTIPART, parseParts);
    }
    return subscribe(params);
  }
  return post(params, options?.headers);
}

const props = { fetcher, defaultEditorToolsVisibility: true };
if (search.get("query")) props.query = search.get("query");
if (search.get("variables")) props.variables = search.get("variables");
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, props));
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL</title>
<link rel="stylesheet" href="{graphiql-css}" integrity="{graphiql-css-sri}" crossorigin="anonymous">
<style>
body {{ margin: 0; font-family: system-ui, sans-serif; }}
#transport-bar {{ height: 2.2rem; display: flex; align-items: center; gap: .5rem;
  padding: 0 1rem; font-size: .9rem; border-bottom: 1px solid #ddd; }}
#graphiql {{ height: calc(100vh - 2.2rem - 1px); }}
</style>
</head>
<body>
<div id="transport-bar">
<label for="subscription-transport">Subscriptions over</label>
<select id="subscription-transport" data-testid="subscription-transport">
<option value="ws">WebSocket (graphql-transport-ws)</option>
<option value="sse">Server-Sent Events (graphql-sse)</option>
<option value="multipart">HTTP multipart (Apollo)</option>
</select>
</div>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<script src="{react}" integrity="{react-sri}" crossorigin="anonymous"></script>
<script src="{react-dom}" integrity="{react-dom-sri}" crossorigin="anonymous"></script>
<script src="{graphiql}" integrity="{graphiql-sri}" crossorigin="anonymous"></script>
<script>{script}</script>
</body>
</html>
"""


def render_page(base_url: str = DEFAULT_BASE_URL) -> str:
    """The page, loading GraphiQL and React from ``base_url`` (a folder URL)."""
    if not base_url.endswith("/"):
        base_url += "/"
    fields = {"script": _SCRIPT}
    for name, (path, integrity) in ASSETS.items():
        fields[name] = html.escape(base_url + path)
        fields[f"{name}-sri"] = integrity
    return _PAGE.format_map(fields)


def asset_paths() -> list[str]:
    """The files a self-hosted copy needs under its base URL."""
    return [path for path, _ in ASSETS.values()]
