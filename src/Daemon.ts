/**
 * The daemon's Layer graph, in one place. `main` runs it with ioredis and a
 * real port; the smoke suite runs the very same graph with the in-memory
 * Redis and a test server: only `RedisClient` and the server differ.
 */
import { type Etag, type FileSystem, type HttpPlatform, HttpServer, type Path } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { AgentState } from "./agent/AgentState.js"
import { Notifier } from "./agent/Notifier.js"
import { createServer as createHttpsServer } from "node:https"
import { baseUrl, reachableHosts } from "./config/Address.js"
import { isLoopbackHost } from "./config/Locations.js"
import { DaemonConfig, type DaemonSettings, type FleetSettings } from "./config/DaemonConfig.js"
import { SettingsError } from "./config/Settings.js"
import { EventStream } from "./fleet/EventStream.js"
import { ComputerTaken, Heartbeat } from "./fleet/Heartbeat.js"
import { HttpServing } from "./server/HttpRoutes.js"
import { LocalSessions } from "./local/LocalSessions.js"
import { Projects } from "./local/Projects.js"
import { RedisClient } from "./fleet/RedisClient.js"
import { RedisStatus } from "./fleet/RedisStatus.js"
import { Requests } from "./fleet/Requests.js"
import { PanePublisher } from "./fleet/PanePublisher.js"
import { RemotePanes } from "./fleet/RemotePanes.js"
import { Seal } from "./fleet/Seal.js"
import { SessionCache } from "./cache/SessionCache.js"
import { SessionControl } from "./server/SessionControl.js"
import { Stats } from "./runtime/Stats.js"
import { boundYoungGeneration } from "./runtime/YoungGeneration.js"
import { Terminals } from "./terminal/Terminals.js"
import { TerminalViewing } from "./terminal/TerminalViewing.js"
import { WebSocketHub } from "./server/WebSocketHub.js"

export type ServerLayer = Layer.Layer<
  HttpServer.HttpServer | HttpPlatform.HttpPlatform | Etag.Generator | FileSystem.FileSystem | Path.Path,
  ServeError
>

export interface DaemonIo {
  /** How a daemon in a fleet reaches its Redis. */
  readonly redis: (fleet: FleetSettings) => Layer.Layer<RedisClient>
  readonly server: ServerLayer
}

/** Closes WebSocket clients with 1001 before the server stops under them. */
const GoodbyeToClients = Layer.scopedDiscard(
  Effect.flatMap(WebSocketHub, (hub) => Effect.addFinalizer(() => hub.closeAll))
)

export const daemonLayer = (settings: DaemonSettings, io: DaemonIo) => {
  // One Redis connection, seal and status for every part that talks to peers (a Layer value is built once).
  const peering = Option.map(settings.fleet, (fleet) =>
    Layer.mergeAll(Seal.layer(fleet.secret), RedisStatus.layer).pipe(Layer.provideMerge(io.redis(fleet))))
  const fleet = Option.match(peering, {
    onNone: () => Layer.empty,
    onSome: (peering) =>
      Layer.mergeAll(Heartbeat.layer.pipe(Layer.provideMerge(EventStream.layer)), PanePublisher).pipe(Layer.provide(peering))
  })
  // Below the viewers of terminals, which watch other computers' sessions through it (and type into them with requests).
  const remotePanes = Option.match(peering, {
    onNone: () => Layer.merge(RemotePanes.notInFleet, Requests.notInFleet),
    onSome: (peering) => RemotePanes.layer.pipe(Layer.provideMerge(Requests.layer), Layer.provide(peering))
  })
  // Built after the server, so released before it: clients get their 1001 while it still runs.
  return GoodbyeToClients.pipe(
    Layer.provideMerge(HttpServing),
    Layer.provideMerge(SessionControl.layer),
    Layer.provideMerge(Layer.mergeAll(WebSocketHub.layer, fleet)),
    Layer.provideMerge(TerminalViewing.layer),
    Layer.provideMerge(remotePanes),
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
 * Runs a daemon built from `layer` until it is interrupted, or until another
 * run of its computer holds the name (`ComputerTaken`).
 */
export const launchDaemon = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.scoped(Effect.flatMap(Layer.build(layer), (context) =>
    Option.match(Context.getOption(context as Context.Context<unknown>, Heartbeat), {
      onNone: () => Effect.never,
      onSome: (heartbeat) => heartbeat.nameLost
    })))

/** ioredis at the fleet's URL. */
export const productionRedis = (fleet: FleetSettings) => RedisClient.layer(Redacted.value(fleet.redisUrl))

/** What `termfleet daemon` runs: ioredis in a fleet, HTTP (or HTTPS with `tls`) on the configured host and port. */
export const productionIo = (settings: DaemonSettings): DaemonIo => ({
  redis: productionRedis,
  server: NodeHttpServer.layer(
    () =>
      Option.match(settings.tls, {
        onNone: () => notServingYet(createServer()),
        onSome: (tls) => notServingYet(createHttpsServer({ cert: tls.cert, key: Redacted.value(tls.key) }))
      }),
    { host: settings.host, port: settings.port }
  )
})

const announce = (settings: DaemonSettings) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "TcpAddress" ? server.address.port : settings.port
    const where = Option.isSome(settings.fleet) ? "(fleet over Redis)" : "(local-only)"
    yield* Effect.logInfo(`termfleet ${settings.version} on ${settings.computer} ${where}`)
    if (!isLoopbackHost(settings.host)) {
      yield* Effect.logInfo(`listening on ${settings.host}, not loopback: other computers can reach this daemon (--host)`)
      if (Option.isNone(settings.tls)) {
        yield* Effect.logWarning(
          "served without TLS: the token and everything typed cross the network in clear; give --tls-cert and --tls-key"
        )
      }
    }
    // Like notebook servers: the URL carries the token once; the page keeps it in a same-site cookie.
    // On every interface, one URL per address (0.0.0.0 is not one to open), loopback first, in one write.
    const token = encodeURIComponent(Redacted.value(settings.token))
    console.log(
      reachableHosts(settings.host).map((host) => `dashboard: ${baseUrl({ tls: Option.isSome(settings.tls), host, port })}/?token=${token}`).join("\n")
    )
  })

/**
 * `termfleet daemon`, until it is stopped. Its computer's name taken by
 * another run is a `SettingsError` (exit 2); anything else failing is a defect.
 */
export const runDaemon = (settings: DaemonSettings): Effect.Effect<void, SettingsError> =>
  launchDaemon(
    Layer.scopedDiscard(Effect.zipRight(announce(settings), boundYoungGeneration)).pipe(Layer.provideMerge(daemonLayer(settings, productionIo(settings))))
  ).pipe(
    // Only a taken name is the user's to fix (exit 2); any other failure is a defect.
    Effect.catchAll((error) =>
      error instanceof ComputerTaken ? Effect.fail(new SettingsError({ message: error.message })) : Effect.die(error)
    )
  )
