// Bundle the GraphiQL page into example/static_build/graphiql/ with esbuild.
//
// Run by `python3 run.py example` after `npm ci` (or by hand: `npm run build`).
// Everything the page needs ends up in that folder, so the page works with no
// network: main.js and main.css (GraphiQL, React, graphql-ws and the page),
// Monaco's three web workers, and the fonts the CSS refers to.
//
// The output folder is not committed (see .gitignore): only the sources and
// package-lock.json are, and this script turns them into the bundle.
//
// It also copies the browser builds of GraphiQL 4 and React 18 (installed in
// umd/ by its own lock file) into example/static_build/graphiql-cdn/, laid
// out as npm CDNs lay them out (`<package>@<version>/<file>`): the GraphiQL
// page the library serves at /graphql/ loads them from there
// (`graphiql_base_url`), so that page works offline too.

import { cpSync, readFileSync, rmSync } from "node:fs";
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

// The files the library's page loads (channels_graphql_ws/graphiql.py ASSETS).
const cdnFiles = {
  react: ["umd/react.production.min.js"],
  "react-dom": ["umd/react-dom.production.min.js"],
  graphiql: ["graphiql.min.js", "graphiql.min.css"],
};
const cdndir = here("../static_build/graphiql-cdn");
rmSync(cdndir, { recursive: true, force: true });
for (const [name, files] of Object.entries(cdnFiles)) {
  const installed = here(`umd/node_modules/${name}`);
  const { version } = JSON.parse(readFileSync(`${installed}/package.json`, "utf8"));
  for (const file of files) {
    cpSync(`${installed}/${file}`, `${cdndir}/${name}@${version}/${file}`);
  }
}

console.log(`GraphiQL page built into ${outdir}; GraphiQL 4 and React 18 copied into ${cdndir}`);
