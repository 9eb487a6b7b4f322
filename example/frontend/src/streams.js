// Subscriptions over one streaming HTTP response, for the page's transport switch.
//
// `streamedSubscription(params, "sse" | "multipart")` POSTs the operation to
// /graphql/ asking for Server-Sent Events (graphql-sse's distinct connections
// mode) or Apollo's multipart subscriptions, and returns an async iterator of
// its results, as GraphiQL wants: `return()` (GraphiQL's Stop) aborts the
// request at once, which is all the server needs to end the subscription.
// The request carries the browser's cookies, so the session's user is the
// subscriber (the connection_init payload is a WebSocket thing).

const ACCEPT = {
  sse: "text/event-stream",
  multipart: "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,application/json;q=0.9",
};

/** SSE: `next` events, then `complete`; comments (keep-alives) are skipped. */
function parseEvents(text, results) {
  const blocks = text.split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    let event = null;
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (event === "next") results.push(JSON.parse(data));
    else if (event === "complete") return { rest: "", complete: true };
  }
  return { rest, complete: false };
}

/** Multipart: `{"payload": ...}` parts, `{}` heartbeats, then the close delimiter. */
function parseParts(text, results) {
  const boundary = "\r\n--graphql";
  let rest = text;
  while (rest.startsWith(boundary)) {
    const after = rest.slice(boundary.length);
    if (after.startsWith("--")) return { rest: "", complete: true };
    const end = after.indexOf(boundary);
    const part = end === -1 ? after : after.slice(0, end);
    let message;
    try {
      message = JSON.parse(part.slice(part.indexOf("\r\n\r\n") + 4));
    } catch (error) {
      if (end === -1) break; // the rest of this part is still on its way
      throw error;
    }
    if (message.payload) results.push(message.payload);
    else if (message.errors) results.push({ errors: message.errors });
    rest = end === -1 ? "" : after.slice(end);
  }
  return { rest, complete: false };
}

export function streamedSubscription(params, transport) {
  const abort = new AbortController();
  const parse = transport === "sse" ? parseEvents : parseParts;
  const results = (async function* read() {
    try {
      const response = await fetch("/graphql/", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: ACCEPT[transport] },
        body: JSON.stringify({
          query: params.query,
          variables: params.variables ?? undefined,
          operationName: params.operationName ?? undefined,
        }),
        signal: abort.signal,
      });
      if (!response.ok || !response.body) {
        yield await response
          .json()
          .catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        const found = [];
        const parsed = parse(text, found);
        text = parsed.rest;
        yield* found;
        if (parsed.complete) return;
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    } finally {
      abort.abort();
    }
  })();
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => results.next(),
    return() {
      abort.abort();
      return Promise.resolve({ done: true, value: undefined });
    },
  };
}
