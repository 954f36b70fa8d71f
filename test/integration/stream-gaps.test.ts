/**
 * Entries lost from an event stream (trimmed before they were read, or gone
 * with a Redis that restarted empty) are noticed and made good: each sender
 * numbers its entries per stream, a reader that finds numbers missing asks
 * that sender for a snapshot (`snapshot_wanted`), and the sender answers
 * with a fresh one in the same stream, ordered before its later events.
 *
 * Also: a heartbeat replayed long after it was written is not taken as a
 * sign of life.
 *
 * The peer on the other side is played through Redis alone (sealed entries
 * with numbers chosen by the test), so the loss is exact, not a race.
 *
 *   npx vitest run test/integration/stream-gaps.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, TestClock } from "effect"
import { decodePeerEvent, type PeerEvent } from "../../src/fleet/PeerEvent.js"
import type { RedisClientService, StreamEntry } from "../../src/fleet/RedisClient.js"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { verifyFields } from "../../src/fleet/Seal.js"
import { makeSession, peerComputer } from "../support/fixtures.js"
import { changeWhere, entriesOf, playedPeer, sessionUpdated } from "../support/PlayedPeer.js"
import { startDaemon, TEST_FLEET_SECRET, TEST_KEYS as keys } from "../support/TestDaemon.js"

/** An entry of `stream` opened as the daemon opens it. */
const openEvent = (stream: string, entry: StreamEntry) =>
  Either.flatMap(verifyFields(TEST_FLEET_SECRET, stream, entry.fields), decodePeerEvent)

/** Reads `stream` from `from` until an entry from `sender` decodes to an event matching `match`; answers it and its id. */
const awaitEvent = (
  redis: RedisClientService,
  stream: string,
  sender: string,
  match: (event: PeerEvent) => boolean,
  from = "0"
) =>
  Effect.scoped(Effect.gen(function*() {
    const reader = yield* redis.reader
    let cursor = from
    while (true) {
      const entries = yield* reader.xread(stream, cursor, { blockMillis: 60_000, count: 100 })
      if (entries.length === 0) return yield* Effect.fail(new Error(`nothing more in ${stream}`))
      for (const entry of entries) {
        cursor = entry.id
        const event = openEvent(stream, entry)
        if (Either.isRight(event) && entry.fields["from"] === sender && match(event.right)) {
          return { id: entry.id, event: event.right }
        }
      }
    }
  }))

/** How many times beta asked pi for a snapshot so far. */
const asks = (redis: RedisClientService) =>
  Effect.map(entriesOf(redis, keys.events("pi")), (entries) =>
    entries.filter((entry) => {
      const event = openEvent(keys.events("pi"), entry)
      return Either.isRight(event) && event.right._tag === "snapshot_wanted"
    }).length)

describe("lost stream entries", () => {
  it.scoped("a reader that finds a sender's entries missing asks that sender for a snapshot, once until it comes", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.presence
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      const updated = (n: number) => ({ _tag: "session_updated", session: makeSession("pi", `s${n}`) }) as const

      yield* pi.push("beta", updated(1), 1)
      yield* changeWhere(changes, sessionUpdated("s1"))
      // Entries 2 and 3 never reach beta's stream.
      yield* pi.push("beta", updated(4), 4)
      yield* changeWhere(changes, sessionUpdated("s4"))
      const asked = yield* awaitEvent(redis, keys.events("pi"), "beta", (e) => e._tag === "snapshot_wanted")
      expect(asked.event).toEqual({ _tag: "snapshot_wanted", computer: "beta" })

      // In order again: nothing more is asked. Entry 6 is handled only after
      // entry 5 has been handled completely, asking included.
      yield* pi.push("beta", updated(5), 5)
      yield* pi.push("beta", updated(6), 6)
      yield* changeWhere(changes, sessionUpdated("s6"))
      expect(yield* asks(redis)).toBe(1)

      // Another gap before the snapshot came: that snapshot will cover it, so
      // beta does not ask again (a lagging reader would otherwise ask on every read).
      yield* pi.push("beta", updated(8), 8)
      yield* changeWhere(changes, sessionUpdated("s8"))
      expect(yield* asks(redis)).toBe(1)
      // The snapshot comes; a gap after it is asked for again.
      yield* pi.push("beta", { _tag: "sessions_snapshot", computer: "pi", sessions: [makeSession("pi", "s9")] }, 9)
      yield* pi.push("beta", updated(11), 11)
      yield* changeWhere(changes, sessionUpdated("s11"))
      yield* awaitEvent(redis, keys.events("pi"), "beta", (e) => e._tag === "snapshot_wanted", asked.id)
      expect(yield* asks(redis)).toBe(2)
      expect((yield* beta.stats.snapshot).decodeFailures).toBe(0)
    }))

  it.scoped("a sender asked for a snapshot writes a fresh one of what the peer is interested in, before its later events", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const beta = playedPeer(redis, peerComputer("beta", ["sessions"]))
      yield* beta.presence
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      yield* alpha.cache.upsertSession(makeSession("alpha", "a1"))
      const first = yield* awaitEvent(redis, keys.events("beta"), "alpha", (e) => e._tag === "session_updated")
      expect(first.event).toMatchObject({ session: { sessionId: "a1" } })

      yield* alpha.cache.upsertSession(makeSession("alpha", "a2"))
      yield* beta.push("alpha", { _tag: "snapshot_wanted", computer: "beta" }, 2)
      const snapshot = yield* awaitEvent(redis, keys.events("beta"), "alpha", (e) => e._tag === "sessions_snapshot", first.id)
      if (snapshot.event._tag !== "sessions_snapshot") return expect.fail("not a snapshot")
      expect(snapshot.event.sessions.map((s) => s.sessionId).sort()).toEqual(["a1", "a2"])

      yield* alpha.cache.upsertSession(makeSession("alpha", "a3"))
      const later = yield* awaitEvent(redis, keys.events("beta"), "alpha", (e) => e._tag === "session_updated", snapshot.id)
      expect(later.event).toMatchObject({ session: { sessionId: "a3" } })
    }))

  it.scoped("a heartbeat read long after it was written does not show its sender as live", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.push("beta", { _tag: "heartbeat", computer: peerComputer("pi") }, 1)
      // beta was away for two minutes; it reads its stream from the start.
      yield* TestClock.adjust("2 minutes")
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      // Read after the old heartbeat: once it is applied, the heartbeat has been handled.
      yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "s1") }, 2)
      yield* changeWhere(changes, sessionUpdated("s1"))
      expect((yield* beta.cache.computers).map((c) => c.name)).toEqual(["beta"])

      yield* pi.push("beta", { _tag: "heartbeat", computer: { ...peerComputer("pi"), lastSeen: 2 } }, 3)
      yield* changeWhere(changes, (c) => c._tag === "ComputerUpdated" && c.computer.name === "pi")
      expect((yield* beta.cache.computers).map((c) => c.name).sort()).toEqual(["beta", "pi"])
    }))
})
