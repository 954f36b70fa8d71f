/**
 * A stream reader's stored cursor (`consumeStream`, on a real redis-server):
 * it is written without holding back the next read, yet a reader stopped
 * between batches once it landed resumes exactly after the last entry it handled, and one
 * whose last cursor write never landed (killed with it in flight) resumes
 * from the batch before: nothing is lost, and only that batch is read again
 * (EventStream's replay windows refuse it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Queue, Scope } from "effect"
import { makeIoRedisClient, RedisClient, type RedisClientService, type StreamEntry } from "../../src/fleet/RedisClient.js"
import { RedisStatus } from "../../src/fleet/RedisStatus.js"
import { consumeStream } from "../../src/fleet/StreamConsumer.js"
import { Stats } from "../../src/runtime/Stats.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"

const redisUrl = useRedis()

/** Starts a reader in a scope of its own; what it handles arrives on the queue, batch by batch. */
const startReader = (redis: RedisClientService, stream: string, cursorKey: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const handled = yield* Queue.unbounded<ReadonlyArray<string>>()
    // Built in the reader's scope, so its services live as long as it does.
    const services = yield* Layer.buildWithScope(
      Layer.merge(Layer.succeed(RedisClient, redis), RedisStatus.layer.pipe(Layer.provide(Stats.layer))),
      scope
    )
    yield* consumeStream({
      stream,
      resume: { key: cursorKey, ttlMillis: 60_000 },
      count: 5,
      handle: (entries: ReadonlyArray<StreamEntry>) => Queue.offer(handled, entries.map((e) => e.id))
    }).pipe(
      Effect.provide(services),
      Scope.extend(scope)
    )
    return { handled, stop: Scope.close(scope, Exit.void) }
  })

/** Takes batches until `n` ids have been handled. */
const takeIds = (handled: Queue.Queue<ReadonlyArray<string>>, n: number) =>
  Effect.gen(function*() {
    const ids: Array<string> = []
    while (ids.length < n) ids.push(...(yield* Queue.take(handled)))
    return ids
  })

const write = (redis: RedisClientService, stream: string, from: number, n: number) =>
  redis.xaddBatch(Array.from({ length: n }, (_, i) => ({ key: stream, fields: { n: String(from + i) }, maxLen: 1000 })))

describe("a stream reader's stored cursor", () => {
  it.scopedLive("a reader stopped between batches, its cursor stored meanwhile, resumes after the last entry it handled: each entry once", () =>
    Effect.gen(function*() {
      const redis = yield* makeIoRedisClient(redisUrl())
      const prefix = uniquePrefix("cursor")
      const stream = `${prefix}events`
      const cursorKey = `${prefix}cursor`

      const first = yield* startReader(redis, stream, cursorKey)
      const written = [...yield* write(redis, stream, 0, 5)]
      const seenFirst = yield* takeIds(first.handled, 5)
      written.push(...yield* write(redis, stream, 5, 5))
      seenFirst.push(...yield* takeIds(first.handled, 5))
      // Stored while the reader already waits for more.
      yield* pollUntil(redis.get(cursorKey), (c) => Option.getOrNull(c) === written[9], "the cursor stored", 10_000, 20)
      yield* first.stop

      // Written while no reader runs, then read by the next one.
      written.push(...yield* write(redis, stream, 10, 7))
      const second = yield* startReader(redis, stream, cursorKey)
      const seenSecond = yield* takeIds(second.handled, 7)
      yield* second.stop

      expect([...seenFirst, ...seenSecond]).toEqual(written)
    }))

  it.scopedLive("a reader killed with its last cursor write in flight resumes from the batch before: nothing lost", () =>
    Effect.gen(function*() {
      const real = yield* makeIoRedisClient(redisUrl())
      const prefix = uniquePrefix("cursor")
      const stream = `${prefix}events`
      const cursorKey = `${prefix}cursor`
      // Once `dead`, cursor writes never land, as if the process died with them in flight.
      let dead = false
      const dying: RedisClientService = {
        ...real,
        set: (key, value, ttl) => (key === cursorKey && dead ? Effect.never : real.set(key, value, ttl))
      }

      const first = yield* startReader(dying, stream, cursorKey)
      const written = [...yield* write(real, stream, 0, 5)]
      yield* takeIds(first.handled, 5)
      yield* pollUntil(real.get(cursorKey), (c) => Option.getOrNull(c) === written[4], "the first cursor stored", 10_000, 20)
      dead = true
      written.push(...yield* write(real, stream, 5, 5))
      yield* takeIds(first.handled, 5)
      yield* first.stop
      expect(yield* real.get(cursorKey)).toEqual(Option.some(written[4]))

      const second = yield* startReader(real, stream, cursorKey)
      const again = yield* takeIds(second.handled, 5)
      yield* second.stop
      expect(again).toEqual(written.slice(5))
    }))
})
