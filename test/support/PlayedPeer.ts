/**
 * A peer played by a test through Redis alone: presence and sealed events
 * written as its daemon would write them, so the daemon under test meets it
 * as a real peer. Entries are numbered in order, or with the number a test
 * gives (to leave a gap on purpose). Also what tests use to watch for it.
 */
import { Effect, Either, Queue } from "effect"
import { decodeReply } from "../../src/domain/PeerRequest.js"
import type { Computer } from "../../src/domain/Model.js"
import { encodePeerEvent, type PeerEvent } from "../../src/fleet/PeerEvent.js"
import type { RedisClientService } from "../../src/fleet/RedisClient.js"
import type { RedisKeys } from "../../src/fleet/RedisKeys.js"
import { sealFields, verifyFields } from "../../src/fleet/Seal.js"
import type { CacheChange } from "../../src/cache/SessionCache.js"
import { TEST_FLEET_SECRET, TEST_KEYS } from "./TestDaemon.js"

/** `keys`: those of the daemons it talks to (the test daemons' by default). */
export const playedPeer = (redis: RedisClientService, computer: Computer, keys: RedisKeys = TEST_KEYS) => {
  let counter = 0
  /** Seals `body` for `where` as this peer, as entry number `n` of its run (the next one by default). */
  const sealed = (where: string, body: string, n = ++counter) =>
    sealFields(TEST_FLEET_SECRET, where, computer.name, `1-${n}`, body)
  /** Writes `event` into `to`'s stream; answers the fields written. */
  const push = (to: string, event: PeerEvent, n?: number) =>
    Effect.gen(function*() {
      const fields = sealed(keys.events(to), encodePeerEvent(event), n)
      yield* redis.xadd(keys.events(to), fields, 10_000)
      return fields
    })
  /** Presence, expiring in 60 s, where discovery finds it. */
  const presence = Effect.gen(function*() {
    const fields = sealed(keys.computer(computer.name), JSON.stringify(computer))
    yield* redis.set(keys.computer(computer.name), JSON.stringify(fields), 60_000)
    yield* redis.zadd(keys.computers, 0, computer.name)
  })
  return {
    sealed,
    push,
    presence,
    /** Presence, and `peers` told at once, as the Heartbeat does when interest changes. */
    heartbeat: (peers: ReadonlyArray<string>) =>
      Effect.zipRight(presence, Effect.forEach(peers, (to) => push(to, { _tag: "heartbeat", computer }), { discard: true }))
  }
}

/** Every entry of a stream, without waiting. */
export const entriesOf = (redis: RedisClientService, key: string) =>
  Effect.scoped(Effect.flatMap(redis.reader, (reader) => reader.xread(key, "0", { count: 10_000 })))

/** The answers to request `id` in `requester`'s reply stream, verified (`from`: who sealed it) and decoded. */
export const repliesTo = (redis: RedisClientService, requester: string, id: string, keys: RedisKeys = TEST_KEYS) =>
  Effect.map(entriesOf(redis, keys.replies(requester)), (entries) =>
    entries.flatMap((entry) => {
      const answer = Either.flatMap(verifyFields(TEST_FLEET_SECRET, keys.replies(requester), entry.fields), ({ body, from }) =>
        Either.map(decodeReply(body), (decoded) => ({ from, ...decoded })))
      return Either.isRight(answer) && answer.right.id === id ? [answer.right] : []
    }))

/** Takes changes until one matches; the queue must be subscribed before the change can happen. */
export const changeWhere = (changes: Queue.Dequeue<CacheChange>, match: (change: CacheChange) => boolean) =>
  Effect.gen(function*() {
    while (true) {
      const change = yield* Queue.take(changes)
      if (match(change)) return change
    }
  })

export const sessionUpdated = (sessionId: string) => (c: CacheChange) =>
  c._tag === "SessionUpdated" && c.session.sessionId === sessionId
export const sessionRemoved = (sessionId: string) => (c: CacheChange) =>
  c._tag === "SessionRemoved" && c.ref.sessionId === sessionId
