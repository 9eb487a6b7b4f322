"""The GraphiQL page served at the endpoint itself (the ``graphiql`` setting).

The page runs queries and mutations with ``fetch`` (POST to the same URL)
and subscriptions over a WebSocket to the same URL (graphql-transport-ws,
spoken by a few lines of the page's own script), so it needs nothing but
GraphiQL and React. Those four files come from ``base_url``, laid out as
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

function fetcher(params, options) {
  if (operationType(options?.documentAST, params.operationName) === "subscription") {
    return subscribe(params);
  }
  return post(params, options?.headers);
}

const search = new URLSearchParams(window.location.search);
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
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
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
