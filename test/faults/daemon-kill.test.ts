/**
 * Daemons that stop, as real processes (`node dist/main.js daemon`) on one
 * real Redis:
 * - killed with SIGKILL (no goodbye): its peer drops it from every dashboard
 *   once its presence expires, within the heartbeat TTL (60 s) plus one
 *   discovery interval (5 s). The daemon offers no shorter TTL, so this test
 *   really waits about a minute. Viewers on the peer of the dead daemon's
 *   sessions are told it is offline then: a WebSocket viewer gets
 *   `terminal_closed` (reason `offline`), `termfleet attach` exits 6 with the
 *   reason (in a test of its own, waiting the same minute beside this one).
 * - stopped with SIGTERM: its WebSocket clients are closed with 1001, its
 *   presence is gone from Redis, its peers' clients get `computer_removed`,
 *   and it exits 0 within 2 s; also while Redis is unreachable (it cannot
 *   say goodbye then, but must not hang on it).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { verifyFields } from "../../src/fleet/Seal.js"
import { pollUntil } from "../support/Poll.js"
import { hangUpServer } from "../support/HangUpServer.js"
import { ownRedis } from "../support/OwnRedis.js"
import { attachedTerminal } from "../support/AttachedTerminal.js"
import { type FleetDaemon, requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { connectViewer } from "../support/TerminalViewer.js"
import { subscribedClient } from "../support/WsClient.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { TEST_FLEET_SECRET } from "../support/TestDaemon.js"

beforeAll(requireBuild)
const redisUrl = useRedis()

/** Presence expires this long after the last heartbeat; peers look every `DISCOVERY`. */
const TTL_MILLIS = 60_000
const DISCOVERY_MILLIS = 5_000
/** Time for the process, a poll and a frame on a loaded machine; not part of the daemon's bound. */
const SLACK_MILLIS = 3_000

const computerNames = (daemon: FleetDaemon) =>
  Effect.map(daemon.request("GET", "/computers"), (answer) =>
    Array.isArray(answer.body) ? answer.body.map((c: { name: string }) => c.name).sort() : [])

// Concurrent: the SIGKILL test spends a minute waiting for a TTL; the others run meanwhile.
describe.concurrent("daemons that stop", () => {
  it.scopedLive("SIGKILL: the peer drops the dead daemon and its sessions within the 60 s TTL plus a discovery interval", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("kill")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redisUrl(), prefix })
      const onAlpha = (yield* subscribedClient(alpha.wsUrl, "sessions")).client

      // beta's session reaches alpha's client: the two know each other and alpha's interest.
      const created = yield* beta.request("POST", "/sessions", { title: "doomed", command: "sh" })
      expect(created.status).toBe(201)
      const sessionId: string = created.body.sessionId
      yield* onAlpha.waitFor("beta's session on alpha's client", (f) => f.event === "session_updated" && f.data.sessionId === sessionId, 15_000)
      expect(yield* computerNames(alpha)).toEqual(["alpha", "beta"])

      beta.signal("SIGKILL")
      const killedAt = Date.now()
      expect((yield* beta.exited).signal).toBe("SIGKILL")

      const bound = TTL_MILLIS + DISCOVERY_MILLIS + SLACK_MILLIS
      const removed = yield* onAlpha.waitFor("computer_removed for beta on alpha's client", (f) => f.event === "computer_removed" && f.data.name === "beta", bound)
      const after = Date.now() - killedAt
      expect(removed.data).toEqual({ name: "beta" })
      expect(yield* computerNames(alpha)).toEqual(["alpha"])
      const sessions = yield* alpha.request("GET", "/sessions")
      expect(sessions.body.filter((s: { computer: string }) => s.computer === "beta")).toEqual([])
      expect(after, "ms from SIGKILL to computer_removed").toBeLessThanOrEqual(bound)
    }), 100_000)

  it.scopedLive("SIGKILL under viewers on its peer: they are told it is offline when the peer drops it; attach exits 6", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("kill-viewers")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redisUrl(), prefix })
      const created = yield* alpha.request("POST", "/sessions", { title: "watched", command: "sh" })
      const sessionId: string = created.body.sessionId
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
      yield* onBeta.waitFor("alpha's session on beta's client", (f) => f.event === "session_updated" && f.data.sessionId === sessionId, 15_000)
      const viewer = yield* connectViewer(beta.wsUrl)
      yield* viewer.send({ type: "attach", sessionId, computer: "alpha", cols: 80, rows: 24 })
      yield* viewer.waitUntil("the snapshot", () => viewer.lastPosition() !== undefined)
      const terminal = yield* attachedTerminal(beta.base, sessionId)
      yield* terminal.type("echo attached-$((6*7))", "Enter")
      yield* pollUntil(terminal.screen, (text) => text.includes("attached-42"), "alpha's output in the attached terminal")

      alpha.signal("SIGKILL")
      expect((yield* alpha.exited).signal).toBe("SIGKILL")
      yield* onBeta.waitFor("computer_removed for alpha on beta's client", (f) => f.event === "computer_removed" && f.data.name === "alpha", TTL_MILLIS + DISCOVERY_MILLIS + SLACK_MILLIS)
      yield* viewer.waitUntil("terminal_closed", () => viewer.events().includes("terminal_closed"))
      expect(viewer.frames().find((f) => f.event === "terminal_closed")!.data).toEqual({
        sessionId,
        reason: "offline",
        message: "computer 'alpha' left the fleet: no heartbeat within 60 s"
      })
      expect(yield* pollUntil(terminal.exitCode, (code) => code !== "", "attach to exit")).toBe("6")
      const screen = yield* pollUntil(terminal.screen, (text) => text.includes("after-attach"), "the terminal restored")
      expect(screen).toContain("termfleet attach: computer 'alpha' left the fleet: no heartbeat within 60 s")
    }), 100_000)

  it.scopedLive("SIGTERM: clients closed with 1001, presence deleted, peers told at once, exit 0 within 2 s", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("term")
      const keys = redisKeys(prefix)
      const redis = yield* makeIoRedisClient(redisUrl())
      const gamma = yield* spawnFleetDaemon({ computer: "gamma", redisUrl: redisUrl(), prefix })
      const delta = yield* spawnFleetDaemon({ computer: "delta", redisUrl: redisUrl(), prefix })
      const onGamma = (yield* subscribedClient(gamma.wsUrl, "sessions")).client
      const onDelta = (yield* subscribedClient(delta.wsUrl, "sessions")).client

      // Each knows the other, and gamma's presence is in Redis.
      yield* pollUntil(computerNames(gamma), (names) => names.includes("delta"), "delta on gamma's /computers", 10_000)
      yield* pollUntil(computerNames(delta), (names) => names.includes("gamma"), "gamma on delta's /computers", 10_000)
      expect(Option.isSome(yield* redis.get(keys.computer("gamma")))).toBe(true)

      const mark = onDelta.frames.length
      gamma.signal("SIGTERM")
      const signalledAt = Date.now()
      const exited = yield* gamma.exited.pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`gamma still running 5 s after SIGTERM:\n${gamma.log()}`) })
      )
      // Checked right after the exit: the daemon removed its presence itself, it did not let it expire.
      const presence = yield* redis.get(keys.computer("gamma"))
      const listed = yield* redis.zrangeByScore(keys.computers, -Infinity, Infinity)

      expect({ code: exited.code, signal: exited.signal }, gamma.log()).toEqual({ code: 0, signal: null })
      expect(exited.at - signalledAt, "ms from SIGTERM to exit").toBeLessThanOrEqual(2_000)
      expect(yield* onGamma.closed(1_000)).toBe(1001)
      expect(Option.getOrUndefined(presence), "gamma's presence key after it exited").toBeUndefined()
      expect(listed, "the computers set after gamma exited").not.toContain("gamma")

      const removed = yield* onDelta.waitFor("computer_removed for gamma on delta's client", (f) => f.event === "computer_removed" && f.data.name === "gamma", 5_000, mark)
      expect(removed.data).toEqual({ name: "gamma" })
      // gamma has exited, so all it wrote is in delta's stream: its last word there must be the goodbye,
      // or delta takes gamma back after removing it.
      const reader = yield* redis.reader
      const stream = keys.events("delta")
      const fromGamma = (yield* reader.xread(stream, "0", { count: 10_000 })).flatMap((entry) => {
        const opened = verifyFields(TEST_FLEET_SECRET, stream, entry.fields)
        return Either.isRight(opened) && opened.right.from === "gamma" ? [JSON.parse(opened.right.body)._tag as string] : []
      })
      expect(fromGamma.at(-1), `gamma's entries in delta's stream, in order: ${fromGamma.join(", ")}`).toBe("goodbye")
      expect(yield* computerNames(delta), "delta's /computers after gamma's goodbye").toEqual(["delta"])
      expect(onDelta.closeCode()).toBeUndefined()
    }), 30_000)

  it.scopedLive("SIGTERM while Redis is unreachable (connections dropped): clients closed with 1001 and exit 0 within 2 s all the same", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const epsilon = yield* spawnFleetDaemon({ computer: "epsilon", redisUrl: redis.url, prefix: uniquePrefix("term-down") })
      const client = (yield* subscribedClient(epsilon.wsUrl, "sessions")).client
      // Redis dies; in its place on its port, a stand-in takes each connection and drops it (as a
      // proxy whose Redis is down does), counting the daemon's attempts, so the test can wait
      // until the daemon has been trying for a while.
      yield* redis.kill
      const standIn = yield* hangUpServer(redis.port)
      yield* pollUntil(Effect.sync(standIn.attempts), (n) => n >= 20, "20 attempts to reach Redis", 30_000, 100)

      epsilon.signal("SIGTERM")
      const signalledAt = Date.now()
      const exited = yield* epsilon.exited.pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`epsilon still running 10 s after SIGTERM (Redis unreachable):\n${epsilon.log()}`) })
      )
      expect({ code: exited.code, signal: exited.signal }, epsilon.log()).toEqual({ code: 0, signal: null })
      expect(exited.at - signalledAt, "ms from SIGTERM to exit with Redis unreachable").toBeLessThanOrEqual(2_000)
      expect(yield* client.closed(1_000)).toBe(1001)
    }), 90_000)
})
