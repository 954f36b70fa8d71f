/**
 * A daemon that stalls (SIGSTOP) long enough for its peer to drop it, then
 * runs again (SIGCONT), as real processes (`node dist/main.js daemon`) on one
 * real Redis. Whichever side was stopped, the fleet must converge by itself,
 * with no client reconnecting, to the same sessions on every daemon within
 * one heartbeat period (20 s) of the return: over REST, on a WebSocket client
 * that stayed connected throughout, and for writes (typing into a session of
 * the returned computer through its peer).
 *
 * The daemon has no shorter presence TTL than 60 s, so the test waits about
 * a minute for the drop.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { makeIoRedisClient, type RedisClientService } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { pollUntil } from "../support/Poll.js"
import { type FleetDaemon, requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { subscribedClient, type WsClient } from "../support/WsClient.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { viewOf } from "../support/SessionView.js"

beforeAll(requireBuild)
const redisUrl = useRedis()

/** A peer is dropped 60 s after its last heartbeat, which was written at most 20 s before the stop; peers look every 5 s. */
const DROP_MILLIS = 60_000 + 5_000
/** Presence is written every 20 s: the bound the fleet must converge within after a return. */
const HEARTBEAT_MILLIS = 20_000
/** Time for the process, a poll and a frame on a loaded machine; not part of the daemon's bound. */
const SLACK_MILLIS = 3_000

const byId = (sessions: ReadonlyArray<any>) => [...sessions].sort((a, b) => a.sessionId.localeCompare(b.sessionId))
const sessionsOn = (daemon: FleetDaemon, computer: string) =>
  Effect.map(daemon.request("GET", `/sessions?computer=${computer}`), (answer) => (Array.isArray(answer.body) ? byId(answer.body) : []))

const create = (daemon: FleetDaemon, title: string) =>
  Effect.map(daemon.request("POST", "/sessions", { title, command: "sh" }), (answer) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    return answer.body.sessionId as string
  })

/**
 * Where a daemon or its client does not show exactly the sessions their owner lists (empty
 * once converged), as `<daemon> shows <owner>: <ids>` lines.
 */
const mismatches = (daemons: ReadonlyArray<readonly [FleetDaemon, WsClient]>) =>
  Effect.gen(function*() {
    const owned = new Map<string, string>()
    for (const [daemon] of daemons) owned.set(daemon.computer, JSON.stringify(yield* sessionsOn(daemon, daemon.computer)))
    const found: Array<string> = []
    for (const [daemon, client] of daemons) {
      for (const [owner] of daemons) {
        const want = owned.get(owner.computer)!
        const ids = (json: string) => JSON.parse(json).map((s: { sessionId: string }) => s.sessionId).join(",")
        const rest = JSON.stringify(yield* sessionsOn(daemon, owner.computer))
        const shown = JSON.stringify(viewOf(client.frames, owner.computer))
        if (rest !== want) found.push(`${daemon.computer}'s /sessions shows ${owner.computer}: [${ids(rest)}], not [${ids(want)}]`)
        if (shown !== want) found.push(`${daemon.computer}'s client shows ${owner.computer}: [${ids(shown)}], not [${ids(want)}]`)
      }
    }
    return found
  })

/** How long ago `computer` last wrote its presence, by the `lastSeen` in its key. */
const presenceAge = (redis: RedisClientService, prefix: string, computer: string) =>
  Effect.map(redis.get(redisKeys(prefix).computer(computer)), (value) =>
    Option.match(value, {
      onNone: () => Infinity,
      onSome: (sealed) => Date.now() - JSON.parse(JSON.parse(sealed).body).lastSeen
    }))

const interestOf = (daemon: FleetDaemon, peer: string) =>
  Effect.map(daemon.request("GET", "/computers"), (answer) =>
    Array.isArray(answer.body) ? answer.body.find((c: { name: string }) => c.name === peer)?.interestedIn ?? [] : [])

describe("a daemon stalled until its peer dropped it, then running again", () => {
  it.scopedLive("alpha stopped while it still counts beta as live: beta shows alpha's sessions again within a heartbeat period", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("stall")
      const redis = yield* makeIoRedisClient(redisUrl())
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redisUrl(), prefix })
      const { client: onAlpha } = yield* subscribedClient(alpha.wsUrl, "sessions")
      const { client: onBeta } = yield* subscribedClient(beta.wsUrl, "sessions")
      // Idle sessions on both sides: nothing about them changes after they are created.
      const [a1, , b1] = [yield* create(alpha, "a1"), yield* create(alpha, "a2"), yield* create(beta, "b1")]
      const everywhere = mismatches([[alpha, onAlpha], [beta, onBeta]])
      yield* pollUntil(everywhere, (found) => found.length === 0, "both daemons' sessions everywhere", 15_000, 250)

      // As reported: alpha stops some seconds after its last heartbeat, and just after beta's
      // newest heartbeat reached it (beta's interest changes, which beta announces at once).
      // So beta drops alpha while alpha, back, still counts beta as live: it never sees beta
      // leave, and nothing tells it that beta lost its sessions.
      yield* pollUntil(presenceAge(redis, prefix, "alpha"), (age) => age >= 8_000, "alpha's presence 8 s old", 25_000, 250)
      yield* onBeta.send({ type: "subscribe", topic: "preparation" })
      yield* pollUntil(interestOf(alpha, "beta"), (topics) => topics.includes("preparation"), "beta's new interest on alpha", 5_000, 50)
      alpha.signal("SIGSTOP")
      yield* onBeta.waitFor("computer_removed for alpha on beta's client", (f) =>
        f.event === "computer_removed" && f.data.name === "alpha", DROP_MILLIS + SLACK_MILLIS)
      expect(yield* sessionsOn(beta, "alpha"), "alpha's sessions on beta while alpha is stopped").toEqual([])

      alpha.signal("SIGCONT")
      const back = Date.now()
      expect(yield* pollUntil(everywhere, (found) => found.length === 0,
        "every daemon and client to show every daemon's sessions", HEARTBEAT_MILLIS + SLACK_MILLIS, 250)).toEqual([])
      expect(Date.now() - back, "ms from the return to convergence").toBeLessThanOrEqual(HEARTBEAT_MILLIS + SLACK_MILLIS)
      // alpha never dropped beta: its client saw no computer_removed.
      expect(onAlpha.frames.filter((f) => f.event === "computer_removed")).toEqual([])

      // Writes to alpha's sessions go through beta again, and beta's still reach alpha.
      const typed = yield* beta.request("POST", `/sessions/${a1}/input`, { text: "echo back" })
      expect(typed.status, JSON.stringify(typed.body)).toBe(200)
      expect((yield* alpha.request("POST", `/sessions/${b1}/input`, { text: "echo too" })).status).toBe(200)
    }), 150_000)
})
