// Drive the server with the npm `graphql-ws` client (subprotocol graphql-transport-ws).
//
//   node run_graphql_ws.mjs SCENARIO URL [ARGS_JSON]
//
// Scenarios:
//   execute  run `args.operations` one after another over one connection
//            (`lazy: false`), `args.pauseMs` apart; `args.keepAlive` is the
//            client's ping interval in ms.
//   connect  open a connection and wait (at most `args.waitMs`) for it to be
//            closed; `args.paramsDelayMs` delays `connectionParams`.
//   broadcast  `broadcastScenario` of common.mjs for `onMessage(room: args.room)`:
//            the mutations go over the subscriber's own connection
//            (`args.sender` "same") or over a second client ("other").
//
// All print one JSON line: the ack payloads (`connected`), the close events
// seen before the script disposed the client (`closed`), the ping/pong events
// (`pings`, `pongs`: `received` is true for the server's messages) and, for
// `execute`, each operation's results, sink error and completion. `broadcast`
// adds what `broadcastScenario` returns and the subscriber's socket traffic
// (`frames` received, `sent`).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import {
  ON_MESSAGE,
  broadcastScenario,
  elapsed,
  parseArgv,
  plain,
  run,
  sleep,
  waitFor,
} from './common.mjs';

const { scenario, url, args } = parseArgv(
  'run_graphql_ws.mjs execute|connect|broadcast URL [ARGS_JSON]',
);

const frames = [];
const sent = [];

// Sees every message the library sends and receives, changing nothing it does.
class RecordingWebSocket extends WebSocket {
  constructor(...rest) {
    super(...rest);
    this.on('message', (data) => frames.push({ ...parseFrame(data.toString()), t: elapsed() }));
  }

  send(data, ...rest) {
    sent.push({ ...parseFrame(String(data)), t: elapsed() });
    return super.send(data, ...rest);
  }
}

function parseFrame(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { unparsable: text };
  }
}

function makeClient(events, { record = false } = {}) {
  const params = args.connectionParams ?? undefined;
  const delay = args.paramsDelayMs ?? 0;
  return createClient({
    url,
    webSocketImpl: record ? RecordingWebSocket : WebSocket,
    lazy: false,
    retryAttempts: 0,
    keepAlive: args.keepAlive ?? 0,
    connectionParams: delay > 0 ? async () => (await sleep(delay), params) : params,
    onNonLazyError: (error) => events.nonLazyErrors.push(plain(error)),
    on: {
      connected: (_socket, payload) => events.connected.push(plain(payload)),
      closed: (event) => events.closed.push({ ...plain(event), t: elapsed() }),
      ping: (received, payload) => events.pings.push({ received, payload: plain(payload), t: elapsed() }),
      pong: (received, payload) => events.pongs.push({ received, payload: plain(payload), t: elapsed() }),
    },
  });
}

function execute(client, operation, timeoutMs) {
  return new Promise((resolve) => {
    const outcome = { results: [], error: null, completed: false, timedOut: false };
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      resolve(outcome);
    }, timeoutMs);
    client.subscribe(operation, {
      next: (result) => outcome.results.push(plain(result)),
      error: (error) => {
        outcome.error = plain(error);
        clearTimeout(timer);
        resolve(outcome);
      },
      complete: () => {
        outcome.completed = true;
        clearTimeout(timer);
        resolve(outcome);
      },
    });
  });
}

const newEvents = () => ({ connected: [], closed: [], pings: [], pongs: [], nonLazyErrors: [] });

run(async () => {
  const events = newEvents();
  const client = makeClient(events, { record: scenario === 'broadcast' });
  const outcome = { scenario, events };
  if (scenario === 'execute') {
    outcome.operations = [];
    for (const [index, operation] of (args.operations ?? []).entries()) {
      if (index > 0 && args.pauseMs) await sleep(args.pauseMs);
      outcome.operations.push(await execute(client, operation, args.operationTimeoutMs ?? 10000));
    }
    if (args.settleMs) await sleep(args.settleMs);
  } else if (scenario === 'connect') {
    await waitFor(() => events.closed.length > 0, args.waitMs ?? 3000);
  } else if (scenario === 'broadcast') {
    const timeoutMs = args.operationTimeoutMs ?? 10000;
    const senderEvents = args.sender === 'other' ? newEvents() : events;
    const sender = args.sender === 'other' ? makeClient(senderEvents) : client;
    Object.assign(
      outcome,
      await broadcastScenario({
        args,
        subscribe: (operation, observer) => client.subscribe(operation, observer),
        execute: (operation) => execute(sender, operation, timeoutMs),
        subscribeSent: () =>
          sent.some((m) => m.type === 'subscribe' && m.payload?.query === ON_MESSAGE),
      }),
    );
    outcome.senderEvents = { ...senderEvents, closed: [...senderEvents.closed] };
    outcome.frames = [...frames];
    outcome.sent = [...sent];
    if (sender !== client) await sender.dispose();
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  // Copied before dispose(), whose own normal closure is not the server's doing.
  outcome.events = { ...events, closed: [...events.closed] };
  await client.dispose();
  return outcome;
});
