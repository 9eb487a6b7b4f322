// Audit the server with the GraphQL over HTTP spec's own audit suite (npm `graphql-http`).
//
//   node run_graphql_http.mjs audit URL
//
// Runs every audit of `serverAudits({ url, fetchFn })` (node's own fetch) and
// prints one JSON line: each audit's id, name, status ("ok", "notice",
// "warn", "error") and reason, plus the counts per level (MUST, SHOULD, MAY)
// and status, as the suite reports them.
import { serverAudits } from 'graphql-http';

import { parseArgv, run } from './common.mjs';

const { scenario, url } = parseArgv('run_graphql_http.mjs audit URL');

async function audit() {
  const audits = serverAudits({ url, fetchFn: fetch });
  const results = [];
  for (const { id, name, fn } of audits) {
    const result = await fn();
    results.push({ id, name, status: result.status, reason: result.reason ?? null });
  }
  const counts = {};
  for (const { name, status } of results) {
    const level = name.split(' ')[0];
    counts[level] ??= {};
    counts[level][status] = (counts[level][status] ?? 0) + 1;
  }
  return { total: results.length, counts, results };
}

run(async () => {
  if (scenario !== 'audit') throw new Error(`unknown scenario ${scenario}`);
  return audit();
});
