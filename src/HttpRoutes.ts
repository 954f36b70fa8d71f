/**
 * Everything served over HTTP: the REST API of `Api.ts` (with its OpenAPI
 * document at `/openapi.json`) and the `/ws` upgrade handed to the hub.
 */
import { HttpApiBuilder, HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect, Layer } from "effect"
import { FleetApi } from "./Api.js"
import { DaemonConfig } from "./DaemonConfig.js"
import { SessionCache } from "./SessionCache.js"
import { Stats } from "./Stats.js"
import { WebSocketHub } from "./WebSocketHub.js"

/**
 * Browsers always send `Origin` on a WebSocket upgrade; a page from another
 * site must not reach the terminals (cross-site WebSocket hijacking).
 * Non-browser clients send none.
 */
export const originAllowed = (origin: string | undefined, host: string | undefined): boolean => {
  if (origin === undefined) return true
  try {
    return host !== undefined && new URL(origin).host === host
  } catch {
    return false
  }
}

const FleetHandlers = HttpApiBuilder.group(FleetApi, "fleet", (handlers) =>
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    const cache = yield* SessionCache
    const stats = yield* Stats
    const hub = yield* WebSocketHub
    return handlers
      .handle("health", () =>
        Effect.gen(function*() {
          const counters = yield* stats.snapshot
          const computers = yield* cache.computers
          return {
            status: "ok" as const,
            computer: config.computer,
            version: config.version,
            peers: computers.length - 1,
            clients: yield* hub.clientCount,
            ...counters
          }
        }))
      .handle("computers", () => cache.computers)
      .handle("sessions", ({ urlParams }) => cache.sessions(urlParams.computer))
      .handle("projects", () => cache.projects)
      .handle("todos", () => cache.todos)
  }))

const WebSocketRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const hub = yield* WebSocketHub
    yield* router.add("GET", "/ws", (request) =>
      Effect.gen(function*() {
        if (!originAllowed(request.headers["origin"], request.headers["host"])) {
          return HttpServerResponse.text("cross-origin WebSocket connections are refused", { status: 403 })
        }
        const socket = yield* request.upgrade
        yield* hub.serve(socket)
        return HttpServerResponse.empty()
      }).pipe(
        Effect.catchTag("RequestError", () =>
          Effect.succeed(HttpServerResponse.text("expected a WebSocket upgrade", { status: 426 })))
      ))
  }))

export const HttpRoutes = Layer.mergeAll(
  HttpLayerRouter.addHttpApi(FleetApi, { openapiPath: "/openapi.json" }).pipe(Layer.provide(FleetHandlers)),
  WebSocketRoute
)

/** Serves the routes on whatever `HttpServer` is provided (a real port, or port 0 in tests). */
export const HttpServing = HttpLayerRouter.serve(HttpRoutes, { disableLogger: true, disableListenLog: true })

