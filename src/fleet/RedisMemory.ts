/**
 * An in-memory `RedisClient` that behaves like Redis for the commands the
 * transport uses: stream ids that only grow, XADD trimming, XREAD that
 * blocks until an XADD wakes it or its time runs out, and key expiry, all
 * measured on Effect's `Clock` so tests drive them with `TestClock`.
 * Several daemons in one test share one store, as they would share a Redis.
 */
import { Clock, Effect, Layer, Option, PubSub, Queue } from "effect"
import { RedisClient, type RedisClientService, type StreamEntry } from "./RedisClient.js"

interface StreamState {
  entries: Array<StreamEntry>
  lastMs: number
  lastSeq: number
}

type Id = readonly [number, number]

const parseId = (id: string): Id => {
  const [ms, seq] = id.split("-")
  return [Number(ms ?? 0), Number(seq ?? 0)]
}
const after = (a: Id, b: Id) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])

export const makeMemoryRedis: Effect.Effect<RedisClientService> = Effect.gen(function*() {
  const strings = new Map<string, string>()
  const zsets = new Map<string, Map<string, number>>()
  const streams = new Map<string, StreamState>()
  const expiresAt = new Map<string, number>()
  const written = yield* PubSub.unbounded<string>()

  const drop = (key: string) => {
    strings.delete(key)
    zsets.delete(key)
    streams.delete(key)
    expiresAt.delete(key)
  }
  /** Runs `f` after removing `key` if it has expired, as Redis does lazily on access. */
  const live = <A>(key: string, f: () => A) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const deadline = expiresAt.get(key)
      if (deadline !== undefined && now >= deadline) drop(key)
      return f()
    })
  const zset = (key: string) => {
    let set = zsets.get(key)
    if (set === undefined) zsets.set(key, (set = new Map()))
    return set
  }
  const byScore = (key: string, min: number, max: number) =>
    [...(zsets.get(key) ?? new Map<string, number>()).entries()]
      .filter(([, s]) => s >= min && s <= max)
      .sort(([ma, a], [mb, b]) => a - b || (ma < mb ? -1 : ma > mb ? 1 : 0))
  const entriesAfter = (key: string, afterId: string, count: number) => {
    const from = parseId(afterId)
    return (streams.get(key)?.entries ?? []).filter((e) => after(parseId(e.id), from)).slice(0, count)
  }

  const service: RedisClientService = {
    set: (key, value, ttlMillis) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          drop(key)
          strings.set(key, value)
          if (ttlMillis !== undefined) expiresAt.set(key, now + ttlMillis)
        })),
    get: (key) => live(key, () => Option.fromNullable(strings.get(key))),
    mget: (keys) => Effect.forEach(keys, (key) => live(key, () => Option.fromNullable(strings.get(key)))),
    del: (key) => Effect.sync(() => drop(key)),
    zadd: (key, score, member) => live(key, () => void zset(key).set(member, score)),
    zrem: (key, member) => live(key, () => void zsets.get(key)?.delete(member)),
    zrangeByScore: (key, min, max) => live(key, () => byScore(key, min, max).map(([member]) => member)),
    xadd: (key, fields, maxLen, ttlMillis) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        live(key, () => {
          let stream = streams.get(key)
          if (stream === undefined) streams.set(key, (stream = { entries: [], lastMs: 0, lastSeq: 0 }))
          // Like Redis: the id's time part never goes back, the sequence breaks ties.
          if (now > stream.lastMs) {
            stream.lastMs = now
            stream.lastSeq = 0
          } else {
            stream.lastSeq += 1
          }
          if (stream.lastMs === 0 && stream.lastSeq === 0) stream.lastSeq = 1
          const id = `${stream.lastMs}-${stream.lastSeq}`
          stream.entries.push({ id, fields: { ...fields } })
          if (stream.entries.length > maxLen) stream.entries.splice(0, stream.entries.length - maxLen)
          if (ttlMillis !== undefined) expiresAt.set(key, now + ttlMillis)
          return id
        }).pipe(Effect.tap(() => PubSub.publish(written, key)))),
    xaddBatch: (entries) =>
      Effect.forEach(entries, ({ fields, key, maxLen, ttlMillis }) => service.xadd(key, fields, maxLen, ttlMillis)),
    lastId: (key) => live(key, () => Option.fromNullable(streams.get(key)?.entries.at(-1)?.id)),
    reader: Effect.succeed({
      xread: (key, afterId, { blockMillis, count }) =>
        Effect.scoped(
          Effect.gen(function*() {
            // Subscribe before looking, so an XADD between the look and the wait still wakes us.
            const wakeups = yield* PubSub.subscribe(written)
            const ready = yield* live(key, () => entriesAfter(key, afterId, count))
            if (ready.length > 0 || blockMillis === undefined) return ready
            const wait = Effect.gen(function*() {
              while (true) {
                const written = yield* Queue.take(wakeups)
                if (written !== key) continue
                const entries = yield* live(key, () => entriesAfter(key, afterId, count))
                if (entries.length > 0) return entries
              }
            })
            return blockMillis === 0
              ? yield* wait
              : Option.getOrElse(yield* Effect.timeoutOption(wait, blockMillis), () => [])
          })
        )
    })
  }
  return service
})

export const RedisMemoryLayer = Layer.effect(RedisClient, makeMemoryRedis)
