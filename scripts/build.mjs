// @ts-check
/**
 * `npm run build`, with esbuild:
 * - src/main.ts (daemon and CLI) → dist/main.js. One tree-shaken bundle loads
 *   far fewer modules than one file per module, which is most of the start-up
 *   time; a dynamic `import()` becomes its own chunk in dist/chunks/, so a
 *   path that is not taken is not loaded.
 * - src/hook.ts → dist/hook.js: the hook command agents run on every event,
 *   alone (plain Node, no Effect), so it starts in a fraction of the time.
 * - src/dashboard/main.ts (the web page) → dist/dashboard/: scripts and style
 *   sheets named by their content's hash, and index.html pointing at them;
 *   the daemon serves this folder.
 * Types are checked by `tsc --noEmit` (`make typecheck`), not here.
 */
import { build } from "esbuild"
import { mkdir, readFile, rm, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"

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

/**
 * `import { Effect, Schema } from "effect"` reaches each module through the
 * package index's `export * as Effect`, which esbuild keeps as a whole
 * namespace object: every function of every module named, used or not. The
 * source keeps the usual imports; the bundle gets
 * `import * as Effect from "effect/Effect"`, whose unused parts esbuild drops
 * (about a third of Effect's code in `termfleet ls`).
 */
const barrels = ["effect", "@effect/platform"]
const require = createRequire(import.meta.url)
/** For each barrel: its `export * as Name from "./Module.js"` (name → module), and the other names it re-exports (name → module). */
const barrelIndex = Object.fromEntries(await Promise.all(barrels.map(async (pkg) => {
  const index = await readFile(require.resolve(pkg).replace(/dist\/cjs\/index\.js$/, "dist/esm/index.js"), "utf8")
  const namespaces = new Map([...index.matchAll(/export \* as (\w+) from "\.\/(\w+)\.js"/g)].map((m) => [m[1], m[2]]))
  const named = new Map()
  for (const m of index.matchAll(/export \{([^}]*)\} from "\.\/(\w+)\.js"/g)) {
    for (const name of m[1].replace(/\/\*[\s\S]*?\*\//g, "").split(",").map((n) => n.trim()).filter(Boolean)) named.set(name, m[2])
  }
  return [pkg, { namespaces, named }]
})))

const importFromBarrel = /import\s*\{([^}]*)\}\s*from\s*"(effect|@effect\/platform)"/g

/** One `import { A, B as C, type D } from "<barrel>"` → `import * as A from "<barrel>/A"; ...`. */
const unbarrel = (/** @type {string} */ specifiers, /** @type {string} */ pkg, /** @type {string} */ file) => {
  const { namespaces, named } = barrelIndex[pkg]
  return specifiers.split(",").map((spec) => spec.trim()).filter((spec) => spec !== "" && !spec.startsWith("type "))
    .map((spec) => {
      const [name, local = name] = spec.split(/\s+as\s+/)
      const namespace = namespaces.get(name)
      if (namespace !== undefined) return `import * as ${local} from "${pkg}/${namespace}";`
      const module = named.get(name)
      if (module !== undefined) return `import { ${spec} } from "${pkg}/${module}";`
      throw new Error(`${file}: "${name}" is not exported by ${pkg}'s index`)
    }).join(" ")
}

const noNamespaceObjects = {
  name: "no-namespace-objects",
  setup(/** @type {import("esbuild").PluginBuild} */ build) {
    build.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8")
      return {
        contents: source.replace(importFromBarrel, (_all, specifiers, pkg) => unbarrel(specifiers, pkg, args.path)),
        loader: "ts"
      }
    })
  }
}

/** What every bundle shares: ES modules, Effect imported module by module. */
const esm = /** @type {const} */ ({ bundle: true, format: "esm", plugins: [noNamespaceObjects], logLevel: "warning" })
/**
 * The Node bundles: Node 20, source maps beside them. Minified: V8 keeps a
 * module's source text for as long as the process runs (to compile its
 * functions when first called), and an idle daemon held 2.3 MB of it, not
 * 1.1 MB (its idle RSS 71 → 69 MB; `--enable-source-maps` maps stack traces
 * back to `src/`).
 */
const forNode = /** @type {const} */ ({ ...esm, platform: "node", target: "node20", sourcemap: true, outdir: "dist", minify: true })

const node = build({
  ...forNode,
  entryPoints: { main: "src/main.ts" },
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  plugins: [noBarrels, noNamespaceObjects],
  // Native add-ons that dependencies load only when present.
  external: ["bufferutil", "utf-8-validate", "msgpackr-extract"],
  // CommonJS dependencies (ioredis, ws) call require() for node built-ins.
  banner: {
    js: "import { createRequire as __termfleetRequire } from 'node:module'; const require = __termfleetRequire(import.meta.url);"
  }
})

const hook = build({ ...forNode, entryPoints: { hook: "src/hook.ts" } })

const dashboard = build({
  ...esm,
  entryPoints: { main: "src/dashboard/main.ts" },
  outdir: "dist/dashboard",
  splitting: true,
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true
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
await Promise.all([node, hook])
