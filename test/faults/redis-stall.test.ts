/**
 * A Redis that stalls (SIGSTOP for 20 s: its connections stay open, nothing is
 * answered), as real processes. A remote request through a peer still gets its
 * 504 within its 5 s deadline, `/health` says Redis is unreachable within
 * seconds instead of `connected` throughout, and once Redis runs again
 * (SIGCONT) the daemons say so and remote requests work again.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type FleetDaemon, requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { ownRedis } from "../support/OwnRedis.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix } from "../support/RedisServer.js"
import { subscribedClient } from "../support/WsClient.js"

beforeAll(requireBuild)

/** A remote request's deadline. */
const DEADLINE_MILLIS = 5_000
const STALL_MILLIS = 20_000
/** Time for the process and a request on a loaded machine; not part of the daemon's bound. */
const SLACK_MILLIS = 2_000

const health = (daemon: FleetDaemon) => Effect.map(daemon.request("GET", "/health"), (answer) => answer.body?.redis)

describe("a stalled Redis", () => {
  it.scopedLive("remote requests answer 504 within their deadline, /health says unreachable, and all comes back after", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const prefix = uniquePrefix("stall-redis")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redis.url, prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redis.url, prefix })
      yield* subscribedClient(beta.wsUrl, "sessions")
      yield* pollUntil(Effect.map(beta.request("GET", "/computers"), (a) => JSON.stringify(a.body)), (b) => b.includes("alpha"), "alpha on beta", 15_000)
      const before = yield* beta.request("POST", "/sessions", { computer: "alpha", title: "before", command: "sh" })
      expect(before.status, JSON.stringify(before.body)).toBe(201)

      yield* redis.signal("SIGSTOP")
      const stoppedAt = Date.now()
      const sent = Date.now()
      const stalled = yield* beta.request("POST", "/sessions", { computer: "alpha", title: "during", command: "sh" })
      const took = Date.now() - sent
      expect(stalled.status, JSON.stringify(stalled.body)).toBe(504)
      expect(took, "ms to the 504 of a remote create while Redis is stalled").toBeLessThanOrEqual(DEADLINE_MILLIS + SLACK_MILLIS)
      for (const daemon of [alpha, beta]) {
        yield* pollUntil(health(daemon), (state) => state === "unreachable", `${daemon.computer}'s /health to say unreachable`, DEADLINE_MILLIS)
      }

      yield* Effect.sleep(Math.max(0, STALL_MILLIS - (Date.now() - stoppedAt)))
      yield* redis.signal("SIGCONT")
      for (const daemon of [alpha, beta]) {
        yield* pollUntil(health(daemon), (state) => state === "connected", `${daemon.computer}'s /health to say connected`, 10_000)
      }
      const after = yield* pollUntil(
        beta.request("POST", "/sessions", { computer: "alpha", title: "after", command: "sh" }),
        (answer) => answer.status === 201,
        "a remote create through beta to work again",
        15_000,
        500
      )
      expect(after.status).toBe(201)
      // The create that was answered 504 never ran later: its request reached alpha past its deadline.
      const titles = yield* Effect.map(alpha.request("GET", "/sessions"), (a) => a.body.map((s: { title: string }) => s.title).sort())
      expect(titles).toEqual(["after", "before"])
    }), 90_000)
})
