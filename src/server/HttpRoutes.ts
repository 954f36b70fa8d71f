/**
 * Everything served over HTTP: the REST API of `Api.ts` (with its OpenAPI
 * document at `/openapi.json`) and the `/ws` upgrade handed to the hub.
 */
import { HttpApiBuilder, HttpLayerRouter, HttpMiddleware, HttpServerResponse, OpenApi } from "@effect/platform"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Effect, Layer } from "effect"
import { FleetApi } from "../domain/Api.js"
import { HookHandlers } from "../agent/HookIntake.js"
import { Limits } from "../domain/Limits.js"
import { DashboardRoute } from "./DashboardAssets.js"
import { limitFrames } from "./FrameLimit.js"
import { HttpGuard } from "./HttpGuard.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { SessionCache } from "../cache/SessionCache.js"
import { SessionControl } from "./SessionControl.js"
import { Stats } from "../runtime/Stats.js"
import { WebSocketHub } from "./WebSocketHub.js"

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

const ControlHandlers = HttpApiBuilder.group(FleetApi, "control", (handlers) =>
  Effect.gen(function*() {
    const control = yield* SessionControl
    return handlers
      .handle("create", ({ payload }) => control.create(payload))
      .handle("input", ({ path, payload }) => control.input(path.id, payload.text))
      .handle("end", ({ path }) => control.end(path.id))
      .handle("output", ({ path, urlParams }) =>
        Effect.map(control.output(path.id, urlParams.lines ?? Limits.defaultOutputLines), ({ computer, output }) => ({
          sessionId: path.id,
          computer,
          output
        })))
  }))

const WebSocketRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const hub = yield* WebSocketHub
    const { limits } = yield* DaemonConfig
    // Host, token and Origin were checked by HttpGuard.
    yield* router.add("GET", "/ws", (request) =>
      Effect.gen(function*() {
        // Fails unless the request came as an upgrade. Its socket is not run: the hub upgrades the
        // connection itself, so that a client is plain state rather than a fiber for as long as it stays.
        yield* request.upgrade
        const incoming = NodeHttpServerRequest.toIncomingMessage(request)
        // Before the upgrade, so the guard reads every byte ahead of `ws`.
        limitFrames(incoming.socket, limits.maxFrameBytes)
        // The platform answers a request once its handler returns, unless its response has ended: this one
        // is ended detached from the socket, so nothing of it is ever written there.
        const response = NodeHttpServerRequest.toServerResponse(request)
        response.detachSocket(incoming.socket)
        response.end()
        yield* hub.serve(incoming)
        return HttpServerResponse.empty()
      }).pipe(
        Effect.catchTag("RequestError", () =>
          Effect.succeed(HttpServerResponse.text("expected a WebSocket upgrade", { status: 426 })))
      ))
  }))

/**
 * `/openapi.json`, made on its first request rather than at start
 * (`addHttpApi`'s `openapiPath` builds it while the daemon starts, before
 * its first answer), then kept.
 */
const OpenApiRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const document = yield* Effect.cached(Effect.sync(() => OpenApi.fromApi(FleetApi)))
    yield* router.add("GET", "/openapi.json", Effect.map(document, (spec) => HttpServerResponse.unsafeJson(spec)))
  }))

export const HttpRoutes = Layer.mergeAll(
  HttpLayerRouter.addHttpApi(FleetApi).pipe(Layer.provide([FleetHandlers, ControlHandlers, HookHandlers])),
  OpenApiRoute,
  WebSocketRoute,
  DashboardRoute
).pipe(Layer.provide(HttpGuard))

/**
 * Serves the routes on whatever `HttpServer` is provided (a real port, or port 0 in tests).
 * Without a trace span per request: nothing reads spans, and a WebSocket's span (its URL, token
 * included, in the attributes) lived as long as its connection, a few KB for each client.
 */
export const HttpServing = HttpMiddleware.withTracerDisabledWhen(
  HttpLayerRouter.serve(HttpRoutes, { disableLogger: true, disableListenLog: true }),
  () => true
)

