/**
 * The daemon's Layer graph, in one place. `main` runs it with ioredis and a
 * real port; the smoke suite runs the very same graph with the in-memory
 * Redis and a test server: only `RedisClient` and the server differ.
 */
import type { Etag, FileSystem, HttpPlatform, HttpServer, Path } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Effect, Layer, Option } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { AgentState } from "./agent/AgentState.js"
import { Notifier } from "./agent/Notifier.js"
import { DaemonConfig, type DaemonSettings } from "./config/DaemonConfig.js"
import { EventStream } from "./fleet/EventStream.js"
import { Heartbeat } from "./fleet/Heartbeat.js"
import { HttpServing } from "./server/HttpRoutes.js"
import { LocalSessions } from "./local/LocalSessions.js"
import { Projects } from "./local/Projects.js"
import { RedisClient } from "./fleet/RedisClient.js"
import { RedisStatus } from "./fleet/RedisStatus.js"
import { Requests } from "./fleet/Requests.js"
import { Seal } from "./fleet/Seal.js"
import { SessionCache } from "./cache/SessionCache.js"
import { SessionControl } from "./server/SessionControl.js"
import { Stats } from "./runtime/Stats.js"
import { Terminals } from "./terminal/Terminals.js"
import { TerminalViewing } from "./terminal/TerminalViewing.js"
import { WebSocketHub } from "./server/WebSocketHub.js"

export type ServerLayer = Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | FileSystem.FileSystem | Path.Path,
  ServeError
>

export interface DaemonIo {
  /** `None`: local-only, no peers. */
  readonly redis: Option.Option<Layer.Layer<RedisClient>>
  readonly server: ServerLayer
}

/** Closes WebSocket clients with 1001 before the server stops under them. */
const GoodbyeToClients = Layer.scopedDiscard(
  Effect.flatMap(WebSocketHub, (hub) => Effect.addFinalizer(() => hub.closeAll))
)

export const daemonLayer = (settings: DaemonSettings, io: DaemonIo) => {
  const fleet = Option.match(io.redis, {
    onNone: () => Layer.empty,
    onSome: (redis) =>
      Layer.mergeAll(Heartbeat.layer.pipe(Layer.provideMerge(EventStream.layer)), Requests.layer).pipe(
        Layer.provide(Layer.mergeAll(Seal.layer, RedisStatus.layer)),
        Layer.provide(redis)
      )
  })
  // Built after the server, so released before it: clients get their 1001 while it still runs.
  return GoodbyeToClients.pipe(
    Layer.provideMerge(HttpServing),
    Layer.provideMerge(SessionControl.layer),
    Layer.provideMerge(Layer.mergeAll(WebSocketHub.layer, fleet)),
    Layer.provideMerge(TerminalViewing.layer),
    Layer.provideMerge(Terminals.layer),
    Layer.provideMerge(Layer.mergeAll(LocalSessions.layer, Projects.layer, Notifier)),
    Layer.provideMerge(AgentState.layer),
    Layer.provideMerge(Layer.mergeAll(SessionCache.layer, Stats.layer)),
    Layer.provideMerge(DaemonConfig.layer(settings)),
    Layer.provideMerge(io.server)
  )
}

/**
 * The server listens before the daemon's Layers are up and its routes served
 * (and after they stop); a request taken meanwhile would never be answered.
 * Until the routes' handler is attached, and once it is gone, each is
 * answered 503 with `Retry-After`.
 */
const notServingYet = <S extends Server>(server: S): S =>
  server.on("request", (_request: IncomingMessage, response: ServerResponse) => {
    if (server.listenerCount("request") > 1) return
    response.writeHead(503, { "content-type": "application/json", "retry-after": "1", connection: "close" })
    response.end(JSON.stringify({ _tag: "NotReady", message: "termfleet is starting or stopping; try again in a moment" }))
  })

/**
 * Runs a daemon built from `layer` until it is interrupted, or until a newer
 * run of its computer takes it over (`ComputerTaken`).
 */
export const launchDaemon = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.scoped(Effect.flatMap(Layer.build(layer), (context) =>
    Option.match(Context.getOption(context as Context.Context<unknown>, Heartbeat), {
      onNone: () => Effect.never,
      onSome: (heartbeat) => heartbeat.takenOver
    })))

/** What `termfleet daemon` runs: ioredis when a URL is given, and the configured host and port. */
export const productionIo = (settings: DaemonSettings): DaemonIo => ({
  redis: Option.map(settings.redisUrl, RedisClient.layer),
  server: NodeHttpServer.layer(() => notServingYet(createServer()), { host: settings.host, port: settings.port })
})
