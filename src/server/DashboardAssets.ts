/**
 * The web dashboard's files, built by `npm run build` from src/dashboard/
 * into dist/dashboard/, served from memory: `GET /` is index.html (read at
 * start), `GET /dashboard/<file>` its scripts and style sheets (read when
 * first asked for: a daemon nobody opens the dashboard of does not hold
 * their 0.5 MB). Their names carry a hash of their content, so a browser may keep
 * them for good; index.html is revalidated, so a restarted daemon's page
 * points at its new files at once.
 *
 * The page holds no inline script or style, so the Content-Security-Policy
 * allows scripts and styles from this origin only: a terminal's title or
 * output can never run as code in the page.
 */
import { FileSystem, HttpLayerRouter, HttpServerResponse, Path } from "@effect/platform"
import { Effect } from "effect"
import { fileURLToPath } from "node:url"

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // xterm.js sizes and colours its terminals with <style> elements it writes; scripts stay 'self' only.
  "style-src-elem 'self' 'unsafe-inline'",
  "img-src 'self'",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const securityHeaders = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const contentTypes: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json"
}

/**
 * dist/dashboard/ of the checkout this code runs from, found from this
 * module's place whether it runs bundled (dist/), from the sources (tests)
 * or from the benchmark's build: the first folder up holding package.json.
 */
const assetsFolder = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  let folder = path.dirname(fileURLToPath(import.meta.url))
  while (!(yield* fs.exists(path.join(folder, "package.json")))) {
    const parent = path.dirname(folder)
    if (parent === folder) return undefined
    folder = parent
  }
  return path.join(folder, "dist", "dashboard")
})

const notBuilt = HttpServerResponse.text("the dashboard is not built: run `npm run build`", { status: 503 })

export const DashboardRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const folder = yield* assetsFolder
    const names = folder === undefined ? [] : yield* fs.readDirectory(folder).pipe(Effect.orElseSucceed(() => []))
    if (folder === undefined || !names.includes("index.html")) {
      yield* Effect.logWarning("the dashboard is not built (no dist/dashboard/index.html): run `npm run build`")
      return yield* router.add("GET", "/", Effect.succeed(notBuilt))
    }
    for (const name of names) {
      const contentType = contentTypes[path.extname(name)]
      if (contentType === undefined) continue
      const page = name === "index.html"
      const respond = (body: Uint8Array) =>
        HttpServerResponse.uint8Array(body, {
          contentType,
          headers: { ...securityHeaders, "cache-control": page ? "no-cache" : "private, max-age=31536000, immutable" }
        })
      const file = path.join(folder, name)
      const read = Effect.orDie(Effect.map(fs.readFile(file), respond))
      // Source maps (several MB, asked for only by a browser's developer tools) are read each time, not held.
      const response = page
        ? Effect.succeed(respond(yield* fs.readFile(file)))
        : path.extname(name) === ".map"
        ? read
        : yield* Effect.cached(read)
      yield* router.add("GET", page ? "/" : `/dashboard/${name}`, response)
    }
  }).pipe(Effect.orDie)
)
