// Drive the server with the npm `graphql-sse` client, under node.
//
//   node run_graphql_sse.mjs broadcast URL [ARGS_JSON]
//
// `broadcast` is `broadcastScenario` of common.mjs for `onMessage(room: args.room)`
// in distinct connections mode, or in single connection mode with
// `args.singleConnection`. The mutations go through the same client (each one
// its own stream in distinct mode, an operation on the one stream in single
// connection mode). The client never retries (`retryAttempts: 0`), so any
// non-2xx answer, or an event other than `next`/`complete`, fails the run.
// Prints what `broadcastScenario` returns, plus every event the client saw
// (`events`: name and the id it carried, if any).
import { createClient } from 'graphql-sse';

import { broadcastScenario, parseArgv, plain, run } from './common.mjs';

const { scenario, url, args } = parseArgv('run_graphql_sse.mjs broadcast URL [ARGS_JSON]');

const events = [];
let connected = 0;

const client = createClient({
  url,
  singleConnection: Boolean(args.singleConnection),
  retryAttempts: 0,
  on: {
    connected: () => {
      connected += 1;
    },
    message: (message) => events.push({ event: message.event, id: message.data?.id ?? null }),
  },
});

function execute(operation) {
  return new Promise((resolve) => {
    const outcome = { results: [], error: null, completed: false, timedOut: false };
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      resolve(outcome);
    }, args.timeoutMs ?? 10000);
    client.subscribe(operation, {
      next: (result) => outcome.results.push(plain(result)),
      error: (error) => {
        clearTimeout(timer);
        outcome.error = plain(error);
        resolve(outcome);
      },
      complete: () => {
        clearTimeout(timer);
        outcome.completed = true;
        resolve(outcome);
      },
    });
  });
}

run(async () => {
  if (scenario !== 'broadcast') throw new Error(`unknown scenario ${scenario}`);
  let subscribed = false;
  const outcome = await broadcastScenario({
    args,
    subscribe: (operation, observer) => {
      client.subscribe(operation, observer);
      subscribed = true;
    },
    execute,
    subscribeSent: () => subscribed,
  });
  client.dispose();
  return { ...outcome, events, connected };
});
