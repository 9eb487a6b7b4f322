// The example's GraphiQL page: operations go over the WebSocket; subscriptions
// may go over HTTP streams instead (the transport switch).
//
// GraphiQL's usual fetcher sends queries and mutations with HTTP POST and
// only subscriptions over a WebSocket. This page shows the WebSocket side of
// the example (the library's own GraphiQL page at /graphql/ shows HTTP), so it
// hands GraphiQL a fetcher that runs every operation (the schema's
// introspection included) through one `graphql-ws` client on `/graphql/`.
//
// Above GraphiQL sits an editor for the `connection_init` payload: the server's
// `on_connect` reads it (the example accepts `{"token": "..."}` from the
// `login` mutation). Applying a new payload closes the socket and opens a new
// one with it, since a payload can only be sent once per connection. The
// applied payload is remembered in the browser's localStorage.
//
// A switch picks how subscriptions travel: over the WebSocket (as every other
// operation), or over HTTP as Server-Sent Events (graphql-sse) or Apollo's
// multipart subscriptions, on the same /graphql/ (see streams.js). The choice
// is remembered in localStorage.
//
// URL parameters, handy for links and for the browser test:
//   ?query=<document>    start with this document in the operation editor;
//   ?payload=<json>      start with this connection_init payload;
//   ?transport=ws|sse|multipart   subscribe over this transport.

import "graphiql/style.css";
import "./workers.js";
import "./page.css";

import { GraphiQL } from "graphiql";
import { getOperationAST, parse } from "graphql";
import { createClient } from "graphql-ws";
import { useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";

import { streamedSubscription } from "./streams.js";

const PAYLOAD_STORAGE_KEY = "example:connection_init_payload";
const TRANSPORT_STORAGE_KEY = "example:subscription_transport";
const TRANSPORTS = {
  ws: "WebSocket (graphql-transport-ws)",
  sse: "Server-Sent Events (graphql-sse)",
  multipart: "HTTP multipart (Apollo)",
};
const DEFAULT_QUERY = `# Every operation here goes over the WebSocket at /graphql/.
# Start this subscription, then send a message from another tab or client:
#
#   mutation { sendChatMessage(chatroom: "kittens", text: "Hi!") { message { text } } }

subscription {
  onNewChatMessage(chatroom: "kittens") {
    chatroom
    text
    sender
  }
}
`;

const params = new URLSearchParams(window.location.search);
const wsUrl = new URL("/graphql/", window.location.href);
wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";

/** Parse the payload editor's text: empty means "send no payload". */
function parsePayload(text) {
  return text.trim() === "" ? undefined : JSON.parse(text);
}

/**
 * The payload to connect with. Text from `?payload=` or localStorage may be
 * broken; then connect with none, and the panel says what is wrong with it.
 */
function payloadOrNothing(text) {
  try {
    return parsePayload(text);
  } catch {
    return undefined;
  }
}

/** A readable line for a close event: its code and, when given, its reason. */
function describeClose(event) {
  return `closed with ${event.code}${event.reason ? `: ${event.reason}` : ""}`;
}

/**
 * A `graphql-ws` client that connects right away (so the status line tells at
 * once whether the server accepted the payload) and reports its state until
 * it is disposed: the old client's final close must not overwrite the status
 * of the one that replaced it.
 */
function connect(payload, setStatus) {
  let disposed = false;
  const report = (status) => {
    if (!disposed) setStatus(status);
  };
  const client = createClient({
    url: wsUrl.href,
    connectionParams: () => payload,
    lazy: false,
    // A rejected payload (4403) is rejected again until it changes: do not
    // retry it; retry anything else that looks like a dropped connection.
    shouldRetry: (event) => typeof event?.code === "number" && event.code !== 4403,
    // The status line shows the failure; the console need not.
    onNonLazyError: () => {},
    on: {
      connecting: () => report({ state: "connecting", text: "connecting…" }),
      connected: (_socket, ack) =>
        report({
          state: "connected",
          text: `connected; connection_ack payload: ${JSON.stringify(ack ?? null)}`,
        }),
      closed: (event) => report({ state: "closed", text: describeClose(event) }),
    },
  });
  return {
    client,
    dispose() {
      disposed = true;
      client.dispose();
    },
  };
}

/**
 * Run one GraphiQL operation through the client as an async iterator.
 * GraphiQL shows each result as it comes and calls `return()` on Stop.
 * A close of the socket arrives as a CloseEvent, which GraphiQL would show as
 * `{}`, so it is turned into an Error with the close code.
 */
function websocketFetcher(client) {
  return (graphQLParams) => {
    const results = client.iterate({
      query: graphQLParams.query,
      variables: graphQLParams.variables ?? undefined,
      operationName: graphQLParams.operationName ?? undefined,
    });
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        try {
          return await results.next();
        } catch (error) {
          if (typeof error?.code === "number") {
            throw new Error(`The WebSocket ${describeClose(error)}`);
          }
          throw error;
        }
      },
      return() {
        return results.return();
      },
    };
  };
}

/** Whether the operation GraphiQL runs is a subscription (a broken document is not). */
function isSubscription(params) {
  try {
    return getOperationAST(parse(params.query), params.operationName)?.operation === "subscription";
  } catch {
    return false;
  }
}

/** Subscriptions over the chosen transport; everything else over the WebSocket. */
function makeFetcher(client, transport) {
  const overWebsocket = websocketFetcher(client);
  return (graphQLParams) =>
    transport !== "ws" && isSubscription(graphQLParams)
      ? streamedSubscription(graphQLParams, transport)
      : overWebsocket(graphQLParams);
}

function TransportSwitch({ transport, onChange }) {
  return (
    <div className="example-transport">
      <label htmlFor="subscription-transport">Subscriptions over</label>
      <select
        id="subscription-transport"
        data-testid="subscription-transport"
        value={transport}
        onChange={(event) => onChange(event.target.value)}
      >
        {Object.entries(TRANSPORTS).map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
    </div>
  );
}

function ConnectionPanel({ payloadText, onApply, status }) {
  const [draft, setDraft] = useState(payloadText);
  let problem = null;
  try {
    parsePayload(draft);
  } catch (error) {
    problem = `Not JSON: ${error.message}`;
  }
  const apply = () => {
    if (!problem) onApply(draft);
  };
  return (
    <div className="example-connection">
      <label htmlFor="connection-init-payload">
        <code>connection_init</code> payload (JSON, empty for none). Log in with the{" "}
        <code>login</code> mutation and put its token here as <code>{'{"token": "…"}'}</code>.
      </label>
      <div className="example-connection-row">
        <textarea
          id="connection-init-payload"
          data-testid="connection-init-payload"
          rows={2}
          spellCheck={false}
          value={draft}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) apply();
          }}
        />
        <button type="button" data-testid="reconnect" disabled={Boolean(problem)} onClick={apply}>
          Reconnect
        </button>
      </div>
      <div
        className={`example-status example-status-${problem ? "invalid" : status.state}`}
        data-testid="connection-status"
      >
        {problem ?? status.text}
      </div>
    </div>
  );
}

function App() {
  // A new object on every "Reconnect", even with the same text, so that the
  // client below is made again.
  const [connection, setConnection] = useState(() => ({
    text: params.get("payload") ?? window.localStorage.getItem(PAYLOAD_STORAGE_KEY) ?? "",
  }));
  const [status, setStatus] = useState({ state: "connecting", text: "connecting…" });
  // Made during render rather than in an effect so that GraphiQL always has a
  // fetcher; the effect only closes the previous client's socket.
  const socket = useMemo(
    () => connect(payloadOrNothing(connection.text), setStatus),
    [connection],
  );
  useEffect(() => () => socket.dispose(), [socket]);
  const [transport, setTransport] = useState(() => {
    const chosen = params.get("transport") ?? window.localStorage.getItem(TRANSPORT_STORAGE_KEY);
    return chosen in TRANSPORTS ? chosen : "ws";
  });
  // A new fetcher for each client: GraphiQL then fetches the schema again,
  // which is right, as what a user may see can depend on who they are.
  const fetcher = useMemo(() => makeFetcher(socket.client, transport), [socket, transport]);
  const chooseTransport = (value) => {
    window.localStorage.setItem(TRANSPORT_STORAGE_KEY, value);
    setTransport(value);
  };

  const applyPayload = (text) => {
    window.localStorage.setItem(PAYLOAD_STORAGE_KEY, text);
    setConnection({ text });
  };

  return (
    <div className="example-page">
      <ConnectionPanel payloadText={connection.text} onApply={applyPayload} status={status} />
      <TransportSwitch transport={transport} onChange={chooseTransport} />
      <div className="example-graphiql">
        <GraphiQL
          fetcher={fetcher}
          initialQuery={params.get("query") ?? undefined}
          defaultQuery={DEFAULT_QUERY}
          isHeadersEditorEnabled={false}
        />
      </div>
    </div>
  );
}

createRoot(document.getElementById("graphiql")).render(<App />);
