// Tell Monaco (the editor inside GraphiQL) where its web workers are.
//
// GraphiQL ships setups for webpack and Vite, which rely on those bundlers
// turning `new Worker(new URL(...))` into separate files. esbuild does not, so
// build.mjs bundles each worker as an entry point of its own next to main.js,
// and this file points Monaco at them. The URLs are relative to this script,
// so the page works wherever Django serves the folder.

const here = new URL(".", import.meta.url);

function workerUrl(name) {
  return new URL(`${name}.worker.js`, here).href;
}

globalThis.MonacoEnvironment = {
  getWorker(_workerId, label) {
    // The labels are the languages GraphiQL's editors use.
    if (label === "graphql") {
      return new Worker(workerUrl("graphql"));
    }
    if (label === "json") {
      return new Worker(workerUrl("json"));
    }
    return new Worker(workerUrl("editor"));
  },
};
