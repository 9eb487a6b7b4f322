// Drive the server over plain HTTP with Apollo Client 4 (`HttpLink`), under node.
//
//   node run_apollo_http.mjs execute|broadcast URL [ARGS_JSON]
//
// `execute` runs `args.operations` ({query, variables, mutation: bool}) one
// after another through one ApolloClient (no cache: every query reaches the
// server) and prints each one's data, or its error's name, message and the
// GraphQL errors it carries. `args.useGETForQueries` sends queries as GET.
//
// `broadcast` is `broadcastScenario` of common.mjs: the subscription goes
// over the same `HttpLink` (Apollo's multipart subscriptions), the mutations
// too.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';

import { broadcastScenario, parseArgv, plain, run } from './common.mjs';

const { scenario, url, args } = parseArgv('run_apollo_http.mjs execute|broadcast URL [ARGS_JSON]');

async function execute() {
  const client = new ApolloClient({
    link: new HttpLink({ uri: url, useGETForQueries: Boolean(args.useGETForQueries) }),
    cache: new InMemoryCache(),
    defaultOptions: { query: { fetchPolicy: 'no-cache' }, mutate: { fetchPolicy: 'no-cache' } },
  });
  const outcomes = [];
  for (const operation of args.operations) {
    const document = gql(operation.query);
    try {
      const result = operation.mutation
        ? await client.mutate({ mutation: document, variables: operation.variables })
        : await client.query({ query: document, variables: operation.variables });
      outcomes.push({ data: plain(result.data), error: plain(result.error) });
    } catch (error) {
      outcomes.push({
        data: null,
        error: { name: error?.name, message: error?.message, errors: plain(error?.errors) },
      });
    }
  }
  return { operations: outcomes };
}

async function broadcast() {
  const client = new ApolloClient({
    link: new HttpLink({ uri: url }),
    cache: new InMemoryCache(),
    defaultOptions: { mutate: { fetchPolicy: 'no-cache' } },
  });
  let subscribed = false;
  const outcome = await broadcastScenario({
    args,
    subscribe: (operation, observer) => {
      client
        .subscribe({
          query: gql(operation.query),
          variables: operation.variables,
          fetchPolicy: 'no-cache',
        })
        .subscribe({
          next: (result) =>
            observer.next(result.error ? { error: plain(result.error) } : { data: result.data }),
          error: observer.error,
          complete: observer.complete,
        });
      subscribed = true;
    },
    execute: async (operation) => {
      try {
        const result = await client.mutate({
          mutation: gql(operation.query),
          variables: operation.variables,
        });
        return { results: [plain(result.data)], error: plain(result.error), completed: true };
      } catch (error) {
        return { results: [], error: plain(error), completed: false };
      }
    },
    subscribeSent: () => subscribed,
  });
  client.stop();
  return outcome;
}

run(async () => {
  if (scenario === 'execute') return execute();
  if (scenario === 'broadcast') return broadcast();
  throw new Error(`unknown scenario ${scenario}`);
});
