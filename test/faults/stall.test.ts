/**
 * A daemon that stalls (SIGSTOP) long enough for its peer to drop it, then
 * runs again (SIGCONT), as real processes (`node dist/main.js daemon`) on one
 * real Redis. Whichever side was stopped (the daemon started first or second,
 * stopped just after the peer's heartbeat reached it or long after), and with
 * the peer making a session meanwhile, the fleet must converge by itself,
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

interface Stall {
  /** Which daemon is stopped: the one started first, or second. */
  readonly stopped: "alpha" | "beta"
  /**
   * When in the peer's heartbeat cycle it stops. `fresh`: just after the peer's newest heartbeat
   * reached it, so back, it still counts the peer as live and never sees it leave (as reported).
   * `stale`: the peer's presence is 15 s old, so back, its own clock may drop the peer too.
   */
  readonly when: "fresh" | "stale"
}

/**
 * Two daemons, each with idle sessions and a client; one is stopped until the other drops it,
 * the other makes a session meanwhile, then the stopped one runs again: every daemon and client
 * shows every session within a heartbeat period, and writes go through either daemon.
 */
const stallAndReturn = ({ stopped, when }: Stall) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix(`stall-${stopped}-${when}`)
    const redis = yield* makeIoRedisClient(redisUrl())
    const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
    const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redisUrl(), prefix })
    const { client: onAlpha } = yield* subscribedClient(alpha.wsUrl, "sessions")
    const { client: onBeta } = yield* subscribedClient(beta.wsUrl, "sessions")
    const [x, onX, y, onY] = stopped === "alpha" ? [alpha, onAlpha, beta, onBeta] : [beta, onBeta, alpha, onAlpha]
    // Idle sessions on both sides: nothing about them changes after they are created.
    const [x1, , y1] = [yield* create(x, "x1"), yield* create(x, "x2"), yield* create(y, "y1")]
    const everywhere = mismatches([[alpha, onAlpha], [beta, onBeta]])
    yield* pollUntil(everywhere, (found) => found.length === 0, "both daemons' sessions everywhere", 15_000, 250)

    // x stops some seconds after its last heartbeat, so y drops it well before it returns.
    yield* pollUntil(presenceAge(redis, prefix, x.computer), (age) => age >= 8_000, `${x.computer}'s presence 8 s old`, 25_000, 250)
    if (when === "fresh") {
      // Just after y's newest heartbeat reached x (y's interest changes, which y announces at once).
      yield* onY.send({ type: "subscribe", topic: "preparation" })
      yield* pollUntil(interestOf(x, y.computer), (topics) => topics.includes("preparation"), `${y.computer}'s new interest on ${x.computer}`, 5_000, 50)
    } else {
      yield* pollUntil(presenceAge(redis, prefix, y.computer), (age) => age >= 15_000, `${y.computer}'s presence 15 s old`, 25_000, 250)
    }
    x.signal("SIGSTOP")
    yield* onY.waitFor(`computer_removed for ${x.computer} on ${y.computer}'s client`, (f) =>
      f.event === "computer_removed" && f.data.name === x.computer, DROP_MILLIS + SLACK_MILLIS)
    expect(yield* sessionsOn(y, x.computer), `${x.computer}'s sessions on ${y.computer} while it is stopped`).toEqual([])
    // What y does meanwhile reaches x too once it is back.
    yield* create(y, "y2")

    x.signal("SIGCONT")
    const back = Date.now()
    expect(yield* pollUntil(everywhere, (found) => found.length === 0,
      "every daemon and client to show every daemon's sessions", HEARTBEAT_MILLIS + SLACK_MILLIS, 250)).toEqual([])
    expect(Date.now() - back, "ms from the return to convergence").toBeLessThanOrEqual(HEARTBEAT_MILLIS + SLACK_MILLIS)
    if (when === "fresh") {
      // x never dropped y: its client saw no computer_removed.
      expect(onX.frames.filter((f) => f.event === "computer_removed")).toEqual([])
    }

    // Writes to x's sessions go through y again, and x's to y's sessions reach y.
    const typed = yield* y.request("POST", `/sessions/${x1}/input`, { text: "echo back" })
    expect(typed.status, JSON.stringify(typed.body)).toBe(200)
    expect((yield* x.request("POST", `/sessions/${y1}/input`, { text: "echo too" })).status).toBe(200)
  })

describe("a daemon stalled until its peer dropped it, then running again", () => {
  // Both at once, each fleet on its own prefix: the wait for a drop is a minute either way.
  it.scopedLive("whichever side stops, at either point of the heartbeat cycle, every daemon shows every session within a heartbeat period of its return", () =>
    Effect.all([
      stallAndReturn({ stopped: "alpha", when: "fresh" }),
      stallAndReturn({ stopped: "beta", when: "stale" })
    ], { concurrency: "unbounded", discard: true }), 150_000)
})
