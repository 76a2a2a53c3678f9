// Bundles a React page (JSX) with the packages of this folder into one browser script, with esbuild.
//
//   node tests/js/build_usechat.mjs examples/web_chat/usechat/app.jsx examples/web_chat/static/usechat.js
//
// No CDN: react, react-dom, @ai-sdk/react and ai come from tests/js/node_modules (npm ci).
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error("usage: node build_usechat.mjs ENTRY.jsx OUT.js");
  process.exit(2);
}
await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: "iife",
  jsx: "automatic",
  platform: "browser",
  define: { "process.env.NODE_ENV": '"production"' },
  // The entry lives outside this folder: resolve its imports from our node_modules.
  nodePaths: [join(dirname(fileURLToPath(import.meta.url)), "node_modules")],
  minify: true,
  logLevel: "warning",
});
