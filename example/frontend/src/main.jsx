// The example's GraphiQL page: every operation goes over the WebSocket.
//
// GraphiQL's usual fetcher sends queries and mutations with HTTP POST and
// only subscriptions over a WebSocket. The example has no HTTP GraphQL
// endpoint at all, so this page hands GraphiQL a fetcher that runs every
// operation (the schema's introspection included) through one `graphql-ws`
// client on `/graphql/`.
//
// Above GraphiQL sits an editor for the `connection_init` payload: the server's
// `on_connect` reads it (the example accepts `{"token": "..."}` from the
// `login` mutation). Applying a new payload closes the socket and opens a new
// one with it, since a payload can only be sent once per connection. The
// applied payload is remembered in the browser's localStorage.
//
// URL parameters, handy for links and for the browser test:
//   ?query=<document>    start with this document in the operation editor;
//   ?payload=<json>      start with this connection_init payload.

import "graphiql/style.css";
import "./workers.js";
import "./page.css";

import { GraphiQL } from "graphiql";
import { createClient } from "graphql-ws";
import { useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";

const PAYLOAD_STORAGE_KEY = "example:connection_init_payload";
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
  // A new fetcher for each client: GraphiQL then fetches the schema again,
  // which is right, as what a user may see can depend on who they are.
  const fetcher = useMemo(() => websocketFetcher(socket.client), [socket]);

  const applyPayload = (text) => {
    window.localStorage.setItem(PAYLOAD_STORAGE_KEY, text);
    setConnection({ text });
  };

  return (
    <div className="example-page">
      <ConnectionPanel payloadText={connection.text} onApply={applyPayload} status={status} />
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
