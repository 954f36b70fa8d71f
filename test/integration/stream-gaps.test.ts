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
import { Effect, Either, Option, Queue, TestClock } from "effect"
import type { Computer } from "../../src/Domain.js"
import { decodePeerEvent, encodePeerEvent, type PeerEvent } from "../../src/PeerEvent.js"
import type { RedisClientService } from "../../src/RedisClient.js"
import { redisKeys } from "../../src/RedisKeys.js"
import { makeMemoryRedis } from "../../src/RedisMemory.js"
import { sealFields, verifyFields } from "../../src/Seal.js"
import type { CacheChange } from "../../src/SessionCache.js"
import { makeSession } from "../support/fixtures.js"
import { startDaemon, TEST_FLEET_SECRET } from "../support/TestDaemon.js"

const keys = redisKeys("test:")

/** A peer played by the test: it writes the entries numbered as the test says. */
const playedPeer = (redis: RedisClientService, computer: Computer) => ({
  presence: Effect.gen(function*() {
    const where = keys.computer(computer.name)
    const fields = sealFields(TEST_FLEET_SECRET, where, computer.name, "1-1", JSON.stringify(computer))
    yield* redis.set(where, JSON.stringify(fields), 60_000)
    yield* redis.zadd(keys.computers, 0, computer.name)
  }),
  /** Writes `event` into `to`'s stream as entry number `n` of this peer's run. */
  write: (to: string, n: number, event: PeerEvent) =>
    redis.xadd(keys.events(to), sealFields(TEST_FLEET_SECRET, keys.events(to), computer.name, `1-${n}`, encodePeerEvent(event)), 10_000)
})

const computer = (name: string, interestedIn: Computer["interestedIn"] = []): Computer => ({
  name,
  version: "0.1.0",
  startedAt: 0,
  lastSeen: 0,
  interestedIn
})

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
        const event = Either.flatMap(verifyFields(TEST_FLEET_SECRET, stream, entry.fields), decodePeerEvent)
        if (Either.isRight(event) && entry.fields["from"] === sender && match(event.right)) {
          return { id: entry.id, event: event.right }
        }
      }
    }
  }))

/** How many times beta asked pi for a snapshot so far. */
const asks = (redis: RedisClientService) =>
  Effect.scoped(Effect.gen(function*() {
    const reader = yield* redis.reader
    const entries = yield* reader.xread(keys.events("pi"), "0", { count: 1_000 })
    return entries.filter((entry) => {
      const event = Either.flatMap(verifyFields(TEST_FLEET_SECRET, keys.events("pi"), entry.fields), decodePeerEvent)
      return Either.isRight(event) && event.right._tag === "snapshot_wanted"
    }).length
  }))

const sessionApplied = (changes: Queue.Dequeue<CacheChange>, sessionId: string) =>
  Effect.gen(function*() {
    while (true) {
      const change = yield* Queue.take(changes)
      if (change._tag === "SessionUpdated" && change.session.sessionId === sessionId) return
    }
  })

describe("lost stream entries", () => {
  it.scoped("a reader that finds a sender's entries missing asks that sender for a snapshot, once until it comes", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, computer("pi"))
      yield* pi.presence
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      const updated = (n: number) => ({ _tag: "session_updated", session: makeSession("pi", `s${n}`) }) as const

      yield* pi.write("beta", 1, updated(1))
      yield* sessionApplied(changes, "s1")
      // Entries 2 and 3 never reach beta's stream.
      yield* pi.write("beta", 4, updated(4))
      yield* sessionApplied(changes, "s4")
      const asked = yield* awaitEvent(redis, keys.events("pi"), "beta", (e) => e._tag === "snapshot_wanted")
      expect(asked.event).toEqual({ _tag: "snapshot_wanted", computer: "beta" })

      // In order again: nothing more is asked. Entry 6 is handled only after
      // entry 5 has been handled completely, asking included.
      yield* pi.write("beta", 5, updated(5))
      yield* pi.write("beta", 6, updated(6))
      yield* sessionApplied(changes, "s6")
      expect(yield* asks(redis)).toBe(1)

      // Another gap before the snapshot came: that snapshot will cover it, so
      // beta does not ask again (a lagging reader would otherwise ask on every read).
      yield* pi.write("beta", 8, updated(8))
      yield* sessionApplied(changes, "s8")
      expect(yield* asks(redis)).toBe(1)
      // The snapshot comes; a gap after it is asked for again.
      yield* pi.write("beta", 9, { _tag: "sessions_snapshot", computer: "pi", sessions: [makeSession("pi", "s9")] })
      yield* pi.write("beta", 11, updated(11))
      yield* sessionApplied(changes, "s11")
      yield* awaitEvent(redis, keys.events("pi"), "beta", (e) => e._tag === "snapshot_wanted", asked.id)
      expect(yield* asks(redis)).toBe(2)
      expect((yield* beta.stats.snapshot).decodeFailures).toBe(0)
    }))

  it.scoped("a sender asked for a snapshot writes a fresh one of what the peer is interested in, before its later events", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const beta = playedPeer(redis, computer("beta", ["sessions"]))
      yield* beta.presence
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      yield* alpha.cache.upsertSession(makeSession("alpha", "a1"))
      const first = yield* awaitEvent(redis, keys.events("beta"), "alpha", (e) => e._tag === "session_updated")
      expect(first.event).toMatchObject({ session: { sessionId: "a1" } })

      yield* alpha.cache.upsertSession(makeSession("alpha", "a2"))
      yield* beta.write("alpha", 2, { _tag: "snapshot_wanted", computer: "beta" })
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
      const pi = playedPeer(redis, computer("pi"))
      yield* pi.write("beta", 1, { _tag: "heartbeat", computer: computer("pi") })
      // beta was away for two minutes; it reads its stream from the start.
      yield* TestClock.adjust("2 minutes")
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      // Read after the old heartbeat: once it is applied, the heartbeat has been handled.
      yield* pi.write("beta", 2, { _tag: "session_updated", session: makeSession("pi", "s1") })
      yield* sessionApplied(changes, "s1")
      expect((yield* beta.cache.computers).map((c) => c.name)).toEqual(["beta"])

      yield* pi.write("beta", 3, { _tag: "heartbeat", computer: { ...computer("pi"), lastSeen: 2 } })
      while (true) {
        const change = yield* Queue.take(changes)
        if (change._tag === "ComputerUpdated" && change.computer.name === "pi") break
      }
      expect((yield* beta.cache.computers).map((c) => c.name).sort()).toEqual(["beta", "pi"])
    }))
})
