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
