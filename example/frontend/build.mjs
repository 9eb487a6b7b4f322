// Bundle the GraphiQL page into example/static_build/graphiql/ with esbuild.
//
// Run by `python3 run.py example` after `npm ci` (or by hand: `npm run build`).
// Everything the page needs ends up in that folder, so the page works with no
// network: main.js and main.css (GraphiQL, React, graphql-ws and the page),
// Monaco's three web workers, and the fonts the CSS refers to.
//
// The output folder is not committed (see .gitignore): only the sources and
// package-lock.json are, and this script turns them into the bundle.

import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outdir = here("../static_build/graphiql");

const common = {
  bundle: true,
  minify: true,
  target: "es2022",
  logLevel: "warning",
  // React and friends pick their production builds from this.
  define: { "process.env.NODE_ENV": '"production"' },
  // Monaco's CSS points at its icon font; copy it beside the CSS.
  loader: { ".ttf": "file", ".woff": "file", ".woff2": "file" },
};

rmSync(outdir, { recursive: true, force: true });

await Promise.all([
  // The page: an ES module, since workers.js finds the workers through
  // `import.meta.url`.
  esbuild.build({
    ...common,
    entryPoints: { main: here("src/main.jsx") },
    outdir,
    format: "esm",
    jsx: "automatic",
  }),
  // Monaco's workers, each a self-contained classic worker script.
  esbuild.build({
    ...common,
    entryPoints: {
      "editor.worker": here("node_modules/monaco-editor/esm/vs/editor/editor.worker.js"),
      "json.worker": here("node_modules/monaco-editor/esm/vs/language/json/json.worker.js"),
      "graphql.worker": here("node_modules/monaco-graphql/esm/graphql.worker.js"),
    },
    outdir,
    format: "iife",
  }),
]);

console.log(`GraphiQL page built into ${outdir}`);
