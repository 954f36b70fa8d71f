/**
 * Starts a daemon from the production Layer graph (`daemonLayer`), swapping
 * only Redis (an in-memory store shared by every daemon of a test, or a real
 * one) and the server (port 0 on loopback).
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { createServer } from "node:http"
import { daemonLayer, type ServerLayer } from "../../src/Daemon.js"
import { type DaemonSettings, defaultSettings } from "../../src/config/DaemonConfig.js"
import { makeIoRedisClient, RedisClient, type RedisClientService } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { SessionCache, type SessionCacheService } from "../../src/cache/SessionCache.js"
import { Stats, type StatsService } from "../../src/runtime/Stats.js"
import { WebSocketHub, type WebSocketHubService } from "../../src/server/WebSocketHub.js"
import { tempDir } from "./TempDir.js"
import { privateTmux } from "./TmuxServer.js"
import { Terminals, type TerminalsService } from "../../src/terminal/Terminals.js"

export const TestServer: ServerLayer = NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port: 0 })

export const TEST_TOKEN = "test-token-0123456789abcdef"
const TEST_PREFIX = "test:"
/** The keys of every test daemon, for tests that look into Redis or play a peer. */
export const TEST_KEYS = redisKeys(TEST_PREFIX)
/** Shared by every test daemon, as by the daemons of one fleet. */
export const TEST_FLEET_SECRET = "test-fleet-secret-0123456789"

export interface TestDaemon {
  readonly settings: DaemonSettings
  readonly cache: SessionCacheService
  readonly hub: WebSocketHubService
  readonly stats: StatsService
  readonly terminals: TerminalsService
  readonly httpUrl: (path: string) => string
  /** Carries the token, as a client must. */
  readonly wsUrl: string
  readonly authHeaders: Readonly<Record<string, string>>
}

export const startDaemon = (
  computer: string,
  redis: Option.Option<RedisClientService>,
  overrides: Partial<DaemonSettings> = {}
): Effect.Effect<TestDaemon, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    // A private tmux server, unless the caller restarts a daemon on its own (from `privateTmux`).
    const tmuxSocket = overrides.tmuxSocket ?? (yield* privateTmux)
    const settings = defaultSettings({
      computer,
      prefix: TEST_PREFIX,
      port: 0,
      tmuxSocket,
      token: Redacted.make(TEST_TOKEN),
      // A folder of its own, unless the caller restarts a daemon on one.
      stateDir: overrides.stateDir ?? (yield* tempDir("tf-state")),
      // The URL is never dialled: `redis` is the connection.
      fleet: Option.map(redis, () => ({ redisUrl: Redacted.make("redis://test"), secret: Redacted.make(TEST_FLEET_SECRET) })),
      ...overrides
    })
    const context = yield* Layer.build(daemonLayer(settings, {
      redis: () => Layer.succeed(RedisClient, Option.getOrThrow(redis)),
      server: TestServer
    }))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return {
      settings,
      cache: Context.get(context, SessionCache),
      hub: Context.get(context, WebSocketHub),
      stats: Context.get(context, Stats),
      terminals: Context.get(context, Terminals),
      httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
      wsUrl: `ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(Redacted.value(settings.token))}`,
      authHeaders: { authorization: `Bearer ${Redacted.value(settings.token)}` }
    }
  })


/** A daemon of a fleet on the real Redis at `redisUrl` (a connection of its own, as a daemon process has). */
export const startFleetDaemon = (redisUrl: string, computer: string, overrides: Partial<DaemonSettings> = {}) =>
  Effect.flatMap(makeIoRedisClient(redisUrl), (redis) => startDaemon(computer, Option.some(redis), overrides))
