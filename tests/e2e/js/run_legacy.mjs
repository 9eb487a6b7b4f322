// Drive the server with npm `subscriptions-transport-ws` 0.11 (legacy subprotocol graphql-ws).
//
//   node run_legacy.mjs SCENARIO URL [ARGS_JSON]
//
// Scenarios:
//   execute  wait for the connection's outcome, then run `args.operations` one
//            after another, `args.pauseMs` apart; `args.timeout` is the
//            client's keep-alive timeout in ms (it drops a connection that
//            goes that long without a `ka`).
//   connect  wait for the connection's outcome, then (at most `args.waitMs`)
//            for the socket to close.
//   broadcast  `broadcastScenario` of common.mjs for `onMessage(room: args.room)`:
//            the mutations go over the subscriber's own connection
//            (`args.sender` "same") or over a second client ("other").
//
// All print one JSON line with what the library reported (`connection`: the
// arguments of each connectionCallback call; `connected`/`disconnected`
// events; each operation's next/error/complete) and, from the subscriber's
// socket, every message received (`frames`), sent (`sent`) and the close
// (`closes`). `broadcast` adds what `broadcastScenario` returns.
import subscriptionsTransportWs from 'subscriptions-transport-ws';
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

const { SubscriptionClient } = subscriptionsTransportWs;
const { scenario, url, args } = parseArgv(
  'run_legacy.mjs execute|connect|broadcast URL [ARGS_JSON]',
);

const frames = [];
const sent = [];
const closes = [];

// The library only sets `onmessage`/`onclose`; these listeners see the same
// traffic without changing what the library does.
class RecordingWebSocket extends WebSocket {
  constructor(...rest) {
    super(...rest);
    this.on('message', (data) => {
      const text = data.toString();
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        message = { unparsable: text };
      }
      frames.push({ ...message, t: elapsed() });
    });
    this.on('close', (code, reason) => closes.push({ code, reason: reason.toString(), t: elapsed() }));
  }

  send(data, ...rest) {
    let message;
    try {
      message = JSON.parse(String(data));
    } catch {
      message = { unparsable: String(data) };
    }
    sent.push({ ...message, t: elapsed() });
    return super.send(data, ...rest);
  }
}

function execute(client, operation, timeoutMs) {
  return new Promise((resolve) => {
    const outcome = { results: [], error: null, completed: false, timedOut: false };
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      resolve(outcome);
    }, timeoutMs);
    client.request(operation).subscribe({
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

function makeClient(connection, events, webSocketImpl) {
  const timeout = args.timeout ?? 30000;
  const client = new SubscriptionClient(
    url,
    {
      reconnect: false,
      connectionParams: args.connectionParams ?? {},
      timeout,
      minTimeout: Math.min(timeout, 1000),
      connectionCallback: (error, result) =>
        connection.push({ error: plain(error), result: plain(result), t: elapsed() }),
    },
    webSocketImpl,
  );
  client.onConnected((payload) => events.connected.push(plain(payload)));
  client.onDisconnected(() => events.disconnected.push({ t: elapsed() }));
  return client;
}

run(async () => {
  const connection = [];
  const events = { connected: [], disconnected: [] };
  const client = makeClient(connection, events, RecordingWebSocket);

  const outcome = { scenario, connection, events };
  await waitFor(() => connection.length > 0 || closes.length > 0, args.connectTimeoutMs ?? 5000);
  if (scenario === 'execute') {
    outcome.operations = [];
    for (const [index, operation] of (args.operations ?? []).entries()) {
      if (index > 0 && args.pauseMs) await sleep(args.pauseMs);
      outcome.operations.push(await execute(client, operation, args.operationTimeoutMs ?? 10000));
    }
    if (args.settleMs) await sleep(args.settleMs);
  } else if (scenario === 'connect') {
    await waitFor(() => closes.length > 0, args.waitMs ?? 3000);
  } else if (scenario === 'broadcast') {
    const timeoutMs = args.operationTimeoutMs ?? 10000;
    let sender = client;
    const senderConnection = [];
    const senderEvents = { connected: [], disconnected: [] };
    if (args.sender === 'other') {
      sender = makeClient(senderConnection, senderEvents, WebSocket);
      await waitFor(() => senderConnection.length > 0, args.connectTimeoutMs ?? 5000);
    }
    Object.assign(
      outcome,
      await broadcastScenario({
        args,
        subscribe: (operation, observer) => client.request(operation).subscribe(observer),
        execute: (operation) => execute(sender, operation, timeoutMs),
        subscribeSent: () =>
          sent.some((m) => m.type === 'start' && m.payload?.query === ON_MESSAGE),
      }),
    );
    outcome.senderConnection = senderConnection;
    outcome.senderEvents = {
      connected: [...senderEvents.connected],
      disconnected: [...senderEvents.disconnected],
    };
    if (sender !== client) sender.close();
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  // Copied before close(), whose own closure is not the server's doing.
  Object.assign(outcome, {
    events: { connected: [...events.connected], disconnected: [...events.disconnected] },
    frames: [...frames],
    sent: [...sent],
    closes: [...closes],
  });
  client.close();
  return outcome;
});
