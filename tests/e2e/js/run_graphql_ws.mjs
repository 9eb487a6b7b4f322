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
//
// Both print one JSON line: the ack payloads (`connected`), the close events
// seen before the script disposed the client (`closed`), the ping/pong events
// (`pings`, `pongs`: `received` is true for the server's messages) and, for
// `execute`, each operation's results, sink error and completion.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { elapsed, parseArgv, plain, run, sleep, waitFor } from './common.mjs';

const { scenario, url, args } = parseArgv('run_graphql_ws.mjs execute|connect URL [ARGS_JSON]');

function makeClient(events) {
  const params = args.connectionParams ?? undefined;
  const delay = args.paramsDelayMs ?? 0;
  return createClient({
    url,
    webSocketImpl: WebSocket,
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

run(async () => {
  const events = { connected: [], closed: [], pings: [], pongs: [], nonLazyErrors: [] };
  const client = makeClient(events);
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
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  // Copied before dispose(), whose own normal closure is not the server's doing.
  outcome.events = { ...events, closed: [...events.closed] };
  await client.dispose();
  return outcome;
});
