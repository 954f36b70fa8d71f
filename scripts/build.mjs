// @ts-check
/**
 * `npm run build`: bundles the daemon and CLI (src/main.ts) into dist/main.js
 * with esbuild. One tree-shaken bundle loads far fewer modules than tsc's
 * one-file-per-module output, which is most of the start-up time; a dynamic
 * `import()` becomes its own chunk, so a path that is not taken is not loaded.
 */
import { build } from "esbuild"
import { rm } from "node:fs/promises"

const dist = new URL("../dist/", import.meta.url)
await rm(new URL("chunks/", dist), { recursive: true, force: true })

await build({
  entryPoints: { main: "src/main.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  treeShaking: true,
  chunkNames: "chunks/[name]-[hash]",
  // Native add-ons that dependencies load only when present.
  external: ["bufferutil", "utf-8-validate", "msgpackr-extract"],
  // CommonJS dependencies (ioredis, ws) call require() for node built-ins.
  banner: { js: "import { createRequire as __termfleetRequire } from 'node:module'; const require = __termfleetRequire(import.meta.url);" },
  logLevel: "warning"
})
