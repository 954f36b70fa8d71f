/**
 * A full Redis (`maxmemory` with `noeviction`: reads answered, writes refused
 * with `OOM`), as real processes. The daemon says so once, as one state
 * (`degraded`, "writes refused"), in its log and in `/health`, however many
 * reads keep working meanwhile, instead of flapping between unreachable and
 * connected; once writes work again it says `connected`, once, and what it
 * could not write meanwhile reaches its peer.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { type FleetDaemon, occurrences, requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { ownRedis } from "../support/OwnRedis.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix } from "../support/RedisServer.js"
import { subscribedClient } from "../support/WsClient.js"

beforeAll(requireBuild)

/** Long enough for every kind of read the daemon makes (a 5 s blocking read, discovery every 5 s) to come round. */
const OBSERVED_MILLIS = 6_000

const health = (daemon: FleetDaemon) => Effect.map(daemon.request("GET", "/health"), (answer) => String(answer.body?.redis))

describe("a full Redis", () => {
  it.scopedLive("is one state, degraded (writes refused), said once, and connected again once writes work; nothing is lost", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const admin = yield* Effect.acquireRelease(Effect.sync(() => new Redis(redis.url)), (r) => Effect.sync(() => r.disconnect()))
      const setMaxMemory = (bytes: number) => Effect.promise(() => admin.config("SET", "maxmemory", String(bytes)))
      yield* Effect.promise(() => admin.config("SET", "maxmemory-policy", "noeviction"))
      const prefix = uniquePrefix("full")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redis.url, prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redis.url, prefix })
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
      const before = yield* alpha.request("POST", "/sessions", { title: "before", command: "sh" })
      yield* onBeta.nextEvent("session_updated", (s) => s.sessionId === before.body.sessionId)

      // Full: every byte Redis holds is over the limit.
      yield* setMaxMemory(1)
      const from = alpha.log().length
      const logSince = () => alpha.log().slice(from)
      const during = yield* alpha.request("POST", "/sessions", { title: "during", command: "sh" })
      expect(during.status).toBe(201)
      yield* pollUntil(health(alpha), (state) => state === "degraded", "alpha's /health to say degraded", 10_000)

      const states = new Set<string>()
      const until = Date.now() + OBSERVED_MILLIS
      while (Date.now() < until) {
        states.add(yield* health(alpha))
        yield* Effect.sleep(100)
      }
      expect([...states], "alpha's /health while Redis is full").toEqual(["degraded"])
      expect({
        degraded: occurrences(logSince(), "redis degraded: writes refused"),
        unreachable: occurrences(logSince(), "redis unreachable"),
        connected: occurrences(logSince(), "redis connected")
      }, logSince()).toEqual({ degraded: 1, unreachable: 0, connected: 0 })

      yield* setMaxMemory(0)
      yield* pollUntil(health(alpha), (state) => state === "connected", "alpha's /health to say connected", 15_000)
      expect(occurrences(logSince(), "redis connected"), logSince()).toBe(1)
      // The session created while writes were refused reaches beta's client.
      yield* onBeta.nextEvent("session_updated", (s) => s.sessionId === during.body.sessionId)
    }), 60_000)
})
