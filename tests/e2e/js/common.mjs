// Helpers shared by the scenario scripts: argv parsing, timing, JSON output.

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const started = Date.now();

/** Milliseconds since the script started, for ordering and spacing events. */
export const elapsed = () => Date.now() - started;

/** `node script.mjs SCENARIO URL [ARGS_JSON]` -> {scenario, url, args}. */
export function parseArgv(usage) {
  const [scenario, url, argsJson] = process.argv.slice(2);
  if (!scenario || !url) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return { scenario, url, args: argsJson ? JSON.parse(argsJson) : {} };
}

/** Anything a client hands to a callback, as plain JSON. */
export function plain(value) {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === 'object' && 'code' in value && 'reason' in value) {
    // A CloseEvent (from `ws` or a browser-like implementation).
    return { code: value.code, reason: String(value.reason), wasClean: value.wasClean ?? null };
  }
  if (typeof value === 'object') return JSON.parse(JSON.stringify(value));
  return value;
}

/** Resolve when `predicate()` holds, or after `ms` milliseconds; true if it held. */
export async function waitFor(predicate, ms, step = 10) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await sleep(step);
  }
  return predicate();
}

/** Print the one JSON line pytest reads, then exit without waiting for sockets. */
export function report(outcome) {
  process.stdout.write(`${JSON.stringify(outcome)}\n`, () => process.exit(0));
}

/** Run `main`; whatever it throws still ends in one JSON line. */
export function run(main) {
  main().then(report, (error) => report({ crashed: plain(error), stack: String(error?.stack) }));
}

// ------------------------------------------------------------ broadcast
// The documents of the `broadcast` scenarios (see tests/e2e/server_app.py).
export const ON_MESSAGE =
  'subscription OnMessage($room: String) { onMessage(room: $room) { text seq } }';
export const SEND_MESSAGE =
  'mutation Send($room: String!, $text: String!, $seq: Int!) ' +
  '{ sendMessage(room: $room, text: $text, seq: $seq) { ok } }';
export const END_ROOM = 'mutation End($room: String!) { endRoom(room: $room) { ok } }';

const sendMessage = (room, text, seq) => ({ query: SEND_MESSAGE, variables: { room, text, seq } });

/**
 * One subscriber of `onMessage(room)`, fed by `sendMessage` mutations, ended by `endRoom`.
 *
 * `subscribe(operation, observer)` starts the subscription (observer: next, error,
 * complete); `execute(operation)` runs one mutation to its end and resolves to
 * `{results, error, completed, timedOut}`; `subscribeSent()` tells whether the
 * subscription's own message is on the wire.
 *
 * The server does not say when the subscription is live (no confirmation), so
 * "ready" messages (seq -1, -2, ...) go out every `args.readyEveryMs` until the
 * subscriber has seen one. Then `args.count` messages "message N" (seq N = 1, 2,
 * ...), each mutation awaited before the next; once the subscriber has all of
 * them, `endRoom`, and a wait for the subscription to end.
 */
export async function broadcastScenario({ args, subscribe, execute, subscribeSent }) {
  const { room } = args;
  const count = args.count ?? 20;
  const readyEveryMs = args.readyEveryMs ?? 50;
  const timeoutMs = args.timeoutMs ?? 10000;
  const subscription = {
    results: [],
    error: null,
    completed: false,
    resultsWhenEndSent: null,
    endedBeforeEndSent: null,
  };
  const ended = () => subscription.completed || subscription.error !== null;
  subscribe(
    { query: ON_MESSAGE, variables: { room } },
    {
      next: (result) => subscription.results.push(plain(result)),
      error: (error) => {
        subscription.error = plain(error);
      },
      complete: () => {
        subscription.completed = true;
      },
    },
  );
  if (!(await waitFor(subscribeSent, timeoutMs))) throw new Error('the subscription was never sent');

  const readies = [];
  const deadline = Date.now() + timeoutMs;
  while (subscription.results.length === 0 && !ended() && Date.now() < deadline) {
    const seq = -(readies.length + 1);
    readies.push({ seq, outcome: await execute(sendMessage(room, 'ready', seq)) });
    await waitFor(() => subscription.results.length > 0 || ended(), readyEveryMs);
  }
  const live = subscription.results.length > 0;

  const messages = [];
  if (live) {
    for (let seq = 1; seq <= count; seq += 1) {
      messages.push(await execute(sendMessage(room, `message ${seq}`, seq)));
    }
    const numbered = () =>
      subscription.results.filter((result) => result?.data?.onMessage?.text !== 'ready').length;
    await waitFor(() => numbered() >= count || ended(), timeoutMs);
  }

  subscription.resultsWhenEndSent = subscription.results.length;
  subscription.endedBeforeEndSent = ended();
  const end = await execute({ query: END_ROOM, variables: { room } });
  await waitFor(ended, timeoutMs);
  return { live, readies, messages, end, subscription };
}
