/**
 * A fleet on a Redis Sentinel deployment (`--redis redis+sentinel://...`), as
 * real processes: a master, its replica and two Sentinels. The master is
 * failed over in order (`SENTINEL FAILOVER`), or lost (its process killed
 * with SIGKILL: the Sentinels find it down and promote the replica), while
 * one daemon's sessions are being created and pushed to the other; the
 * daemons follow the new master, and every session reaches the other
 * daemon's client, none lost.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix } from "../support/RedisServer.js"
import { type SentinelDeployment, sentinelDeployment } from "../support/RedisSentinel.js"
import { subscribedClient } from "../support/WsClient.js"

beforeAll(requireBuild)

const BEFORE = 5
const DURING_AND_AFTER = 6

describe("Redis Sentinel", () => {
  it.scopedLive.each<readonly [string, (deployment: SentinelDeployment) => Effect.Effect<void, Error>]>([
    ["fails over (SENTINEL FAILOVER)", (deployment) => deployment.failover],
    ["is killed (SIGKILL) and the replica promoted", (deployment) => deployment.killMaster]
  ])("the master %s while events flow: the daemons follow it and every change reaches the peer's client", ([, lose]) =>
    Effect.gen(function*() {
      const deployment = yield* sentinelDeployment
      const firstMaster = yield* deployment.masterPort
      const prefix = uniquePrefix("sentinel")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: deployment.url, prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: deployment.url, prefix })
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client

      const create = (n: number) =>
        Effect.flatMap(alpha.request("POST", "/sessions", { title: `s-${n}`, command: "sh" }), (answer) => {
          expect(answer.status, JSON.stringify(answer.body)).toBe(201)
          return Effect.succeed<string>(answer.body.sessionId)
        })
      const first = yield* create(0)
      yield* onBeta.nextEvent("session_updated", (s) => s.sessionId === first)

      // Sessions made one after another; the failover starts after BEFORE of them, and more follow while it runs and after.
      const ids = [first]
      for (let n = 1; n <= BEFORE; n++) ids.push(yield* create(n))
      const failover = yield* Effect.fork(lose(deployment))
      let n = BEFORE
      while (Option.isNone(yield* Fiber.poll(failover)) || n < BEFORE + DURING_AND_AFTER) ids.push(yield* create(++n))
      yield* Fiber.join(failover)
      expect(yield* deployment.masterPort).not.toBe(firstMaster)

      for (const id of ids) {
        yield* onBeta.waitFor(`session ${id} on beta's client`, (f) => f.event === "session_updated" && f.data.sessionId === id, 20_000)
      }
      const sessionsOn = (daemon: typeof alpha) =>
        Effect.map(daemon.request("GET", "/sessions"), (a) => a.body.map((s: { sessionId: string }) => s.sessionId).sort().join(","))
      const onAlpha = yield* sessionsOn(alpha)
      expect(onAlpha.split(",")).toHaveLength(ids.length)
      yield* pollUntil(sessionsOn(beta), (list) => list === onAlpha, "beta to list alpha's sessions")
      for (const daemon of [alpha, beta]) {
        expect((yield* daemon.request("GET", "/health")).body.redis).toBe("connected")
      }
    }), 60_000)
})
