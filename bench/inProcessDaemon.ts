/**
 * A daemon built in this process from `daemonLayer` with `productionIo`,
 * exactly as `main` builds it (ioredis when a Redis URL is set, a real
 * loopback port), but with handles on its services so the benchmark can
 * inject session changes with `SessionCache.unsafeUpsertSession`: what
 * `upsertSession`, the call LocalSessions makes when tmux reports a change,
 * runs.
 */
import { HttpServer } from "@effect/platform"
import { Context, Effect, Exit, Layer, Logger, LogLevel, Option, Redacted, Scope } from "effect"
import { daemonLayer, productionIo } from "../src/Daemon.js"
import { type DaemonSettings, defaultSettings } from "../src/config/DaemonConfig.js"
import { defaultLimits } from "../src/domain/Limits.js"
import type { Session } from "../src/domain/Model.js"
import { LocalSessions } from "../src/local/LocalSessions.js"
import { SessionCache, type SessionCacheService } from "../src/cache/SessionCache.js"
import { Stats } from "../src/runtime/Stats.js"
import { WebSocketHub } from "../src/server/WebSocketHub.js"

export interface DaemonOptions {
  readonly computer: string
  readonly redisUrl?: string | undefined
  readonly prefix: string
  readonly tmuxSocket: string
  readonly token: string
  readonly fleetSecret: string
  readonly stateDir: string
  readonly maxClients?: number | undefined
}

export interface InProcessDaemon {
  readonly settings: DaemonSettings
  readonly port: number
  readonly cache: SessionCacheService
  /** Publishes like LocalSessions does, without a fiber of its own per change (LocalSessions runs a whole poll in one). */
  readonly upsert: (session: Session) => void
  readonly counters: () => Promise<Record<string, unknown>>
  readonly tmuxCalls: () => Promise<number>
  readonly clientCount: () => Promise<number>
  readonly stop: () => Promise<void>
}

export const startInProcessDaemon = async (options: DaemonOptions): Promise<InProcessDaemon> => {
  const settings = defaultSettings({
    computer: options.computer,
    fleet: Option.map(Option.fromNullable(options.redisUrl), (url) => ({
      redisUrl: Redacted.make(url),
      secret: Redacted.make(options.fleetSecret)
    })),
    host: "127.0.0.1",
    port: 0,
    prefix: options.prefix,
    tmuxSocket: options.tmuxSocket,
    token: Redacted.make(options.token),
    stateDir: options.stateDir,
    limits: { ...defaultLimits, maxClients: options.maxClients ?? defaultLimits.maxClients }
  })
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(daemonLayer(settings, productionIo(settings)), scope).pipe(
      // Fibers forked while building inherit this: only warnings reach the benchmark's output.
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  const cache = Context.get(context, SessionCache)
  const stats = Context.get(context, Stats)
  const hub = Context.get(context, WebSocketHub)
  const local = Context.get(context, LocalSessions)
  return {
    settings,
    port: address._tag === "TcpAddress" ? address.port : 0,
    cache,
    upsert: cache.unsafeUpsertSession,
    counters: () => Effect.runPromise(stats.snapshot) as Promise<unknown> as Promise<Record<string, unknown>>,
    tmuxCalls: () => Effect.runPromise(local.tmuxCalls),
    clientCount: () => Effect.runPromise(hub.clientCount),
    stop: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
