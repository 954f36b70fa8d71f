/**
 * Starts a daemon from the production Layer graph (`daemonLayer`), swapping
 * only Redis (an in-memory store shared by every daemon of a test, or a real
 * one) and the server (port 0 on loopback).
 */
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { createServer } from "node:http"
import { daemonLayer, type ServerLayer } from "../../src/Daemon.js"
import { type DaemonSettings, defaultSettings } from "../../src/DaemonConfig.js"
import { RedisClient, type RedisClientService } from "../../src/RedisClient.js"
import { SessionCache, type SessionCacheService } from "../../src/SessionCache.js"
import { Stats, type StatsService } from "../../src/Stats.js"
import { WebSocketHub, type WebSocketHubService } from "../../src/WebSocketHub.js"
import type { Session } from "../../src/Domain.js"

export const TestServer: ServerLayer = NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port: 0 })

export interface TestDaemon {
  readonly settings: DaemonSettings
  readonly cache: SessionCacheService
  readonly hub: WebSocketHubService
  readonly stats: StatsService
  readonly httpUrl: (path: string) => string
  readonly wsUrl: string
}

export const startDaemon = (
  computer: string,
  redis: Option.Option<RedisClientService>,
  overrides: Partial<DaemonSettings> = {}
): Effect.Effect<TestDaemon, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const settings = defaultSettings({ computer, prefix: "test:", port: 0, ...overrides })
    const context = yield* Layer.build(daemonLayer(settings, {
      redis: Option.map(redis, (client) => Layer.succeed(RedisClient, client)),
      server: TestServer
    }))
    const address = Context.get(context, HttpServer.HttpServer).address
    const port = address._tag === "TcpAddress" ? address.port : 0
    return {
      settings,
      cache: Context.get(context, SessionCache),
      hub: Context.get(context, WebSocketHub),
      stats: Context.get(context, Stats),
      httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
      wsUrl: `ws://127.0.0.1:${port}/ws`
    }
  })

export const makeSession = (computer: string, sessionId: string, overrides: Partial<Session> = {}): Session => ({
  sessionId,
  computer,
  title: `session ${sessionId}`,
  projectPath: null,
  command: "bash",
  status: "running",
  createdAt: 0,
  lastActivity: 0,
  lastInput: null,
  lastOutput: "",
  ...overrides
})
