// @ts-check
/**
 * `npm run build`, with esbuild:
 * - src/main.ts (daemon and CLI) → dist/main.js. One tree-shaken bundle loads
 *   far fewer modules than one file per module, which is most of the start-up
 *   time; a dynamic `import()` becomes its own chunk in dist/chunks/, so a
 *   path that is not taken is not loaded.
 * - src/dashboard/main.ts (the web page) → dist/dashboard/: scripts and style
 *   sheets named by their content's hash, and index.html pointing at them;
 *   the daemon serves this folder.
 * Types are checked by `tsc --noEmit` (`make typecheck`), not here.
 */
import { build } from "esbuild"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"

await Promise.all([
  rm("dist/chunks", { recursive: true, force: true }),
  rm("dist/dashboard", { recursive: true, force: true })
])

/** `@effect/platform-node`'s index re-exports undici (1 MB, CommonJS, not tree-shakable): its modules are imported one by one. */
const noBarrels = {
  name: "no-barrels",
  setup(/** @type {import("esbuild").PluginBuild} */ build) {
    build.onResolve({ filter: /^@effect\/platform-node$/ }, (args) => ({
      errors: [{ text: `${args.importer}: import from "@effect/platform-node/<Module>", not the package index (it loads undici)` }]
    }))
  }
}

const node = build({
  entryPoints: { main: "src/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  chunkNames: "chunks/[name]-[hash]",
  plugins: [noBarrels],
  // Native add-ons that dependencies load only when present.
  external: ["bufferutil", "utf-8-validate", "msgpackr-extract"],
  // CommonJS dependencies (ioredis, ws) call require() for node built-ins.
  banner: {
    js: "import { createRequire as __termfleetRequire } from 'node:module'; const require = __termfleetRequire(import.meta.url);"
  },
  logLevel: "warning"
})

const dashboard = build({
  entryPoints: { main: "src/dashboard/main.ts" },
  outdir: "dist/dashboard",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning"
})

const { metafile } = await dashboard
const entry = Object.entries(metafile.outputs).find(([, output]) => output.entryPoint === "src/dashboard/main.ts")
if (entry === undefined || entry[1].cssBundle === undefined) throw new Error("esbuild gave no dashboard script and style sheet")
const served = (/** @type {string} */ path) => path.replace(/^dist\/dashboard\//, "/dashboard/")
const page = (await readFile("src/dashboard/index.html", "utf8"))
  .replace('href="/dashboard/main.css"', `href="${served(entry[1].cssBundle)}"`)
  .replace('src="/dashboard/main.js"', `src="${served(entry[0])}"`)
await mkdir("dist/dashboard", { recursive: true })
await writeFile("dist/dashboard/index.html", page)
await node
