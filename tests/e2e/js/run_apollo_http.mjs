// Drive the server over plain HTTP with Apollo Client 4 (`HttpLink`), under node.
//
//   node run_apollo_http.mjs execute URL [ARGS_JSON]
//
// `execute` runs `args.operations` ({query, variables, mutation: bool}) one
// after another through one ApolloClient (no cache: every query reaches the
// server) and prints each one's data, or its error's name, message and the
// GraphQL errors it carries. `args.useGETForQueries` sends queries as GET.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';

import { parseArgv, plain, run } from './common.mjs';

const { scenario, url, args } = parseArgv('run_apollo_http.mjs execute URL [ARGS_JSON]');

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

run(async () => {
  if (scenario !== 'execute') throw new Error(`unknown scenario ${scenario}`);
  return execute();
});
