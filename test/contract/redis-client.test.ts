/**
 * The RedisClient contract: the same tests run against the in-memory Layer
 * (time on the TestClock) and the ioredis Layer (a real redis-server started
 * for this file), so the fake is shown to behave like Redis.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, type Scope, TestClock } from "effect"
import { makeIoRedisClient, type RedisClientService } from "../../src/fleet/RedisClient.js"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"

type Body = (redis: RedisClientService, key: (name: string) => string) => Effect.Effect<void, unknown, Scope.Scope>

interface Subject {
  readonly name: string
  readonly it: (title: string, body: Body) => void
  /** Lets `ms` pass: TestClock for the fake, real time for Redis (it has no other clock). */
  readonly elapse: (ms: number) => Effect.Effect<void>
}

const redisUrl = useRedis()

const subjects: ReadonlyArray<Subject> = [
  {
    name: "in-memory",
    it: (title, body) =>
      it.scoped(title, () => Effect.flatMap(makeMemoryRedis, (redis) => body(redis, (n) => `mem:${n}`))),
    elapse: (ms) => TestClock.adjust(ms)
  },
  {
    name: "ioredis",
    it: (title, body) =>
      it.scopedLive(title, () =>
        Effect.gen(function*() {
          const redis = yield* makeIoRedisClient(redisUrl())
          const prefix = uniquePrefix("contract")
          yield* body(redis, (n) => `${prefix}${n}`)
        })),
    elapse: (ms) => Effect.sleep(ms)
  }
]

for (const subject of subjects) {
  describe(`RedisClient contract: ${subject.name}`, () => {
    subject.it("SET then GET answers the value; GET of a missing key answers none", (redis, key) =>
      Effect.gen(function*() {
        yield* redis.set(key("a"), "1")
        expect(yield* redis.get(key("a"))).toEqual(Option.some("1"))
        expect(yield* redis.get(key("missing"))).toEqual(Option.none())
        expect(yield* redis.mget([key("a"), key("missing")])).toEqual([Option.some("1"), Option.none()])
        expect(yield* redis.mget([])).toEqual([])
        yield* redis.del(key("a"))
        expect(yield* redis.get(key("a"))).toEqual(Option.none())
      }))

    subject.it("SET with an expiry: the key is there before it and gone after it", (redis, key) =>
      Effect.gen(function*() {
        yield* redis.set(key("ttl"), "v", 200)
        yield* redis.set(key("kept"), "v")
        yield* subject.elapse(50)
        expect(yield* redis.get(key("ttl"))).toEqual(Option.some("v"))
        yield* subject.elapse(300)
        expect(yield* redis.get(key("ttl"))).toEqual(Option.none())
        expect(yield* redis.get(key("kept"))).toEqual(Option.some("v"))
        yield* redis.set(key("ttl"), "again")
        yield* subject.elapse(300)
        expect(yield* redis.get(key("ttl"))).toEqual(Option.some("again"))
      }))

    subject.it("sorted sets: ranges by score, lowest first; ZREM removes", (redis, key) =>
      Effect.gen(function*() {
        yield* redis.zadd(key("z"), 30, "c")
        yield* redis.zadd(key("z"), 10, "a")
        yield* redis.zadd(key("z"), 20, "b")
        yield* redis.zadd(key("z"), 5, "c")
        expect(yield* redis.zrangeByScore(key("z"), -Infinity, Infinity)).toEqual(["c", "a", "b"])
        expect(yield* redis.zrangeByScore(key("z"), 10, 20)).toEqual(["a", "b"])
        yield* redis.zrem(key("z"), "a")
        expect(yield* redis.zrangeByScore(key("z"), -Infinity, Infinity)).toEqual(["c", "b"])
        expect(yield* redis.zrangeByScore(key("nothing"), -Infinity, Infinity)).toEqual([])
      }))

    subject.it("XADD ids grow; XREAD answers the entries after an id, oldest first, at most COUNT", (redis, key) =>
      Effect.gen(function*() {
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++) ids.push(yield* redis.xadd(key("s"), { n: String(i), from: "x" }, 100))
        const parse = (id: string) => id.split("-").map(Number) as [number, number]
        for (let i = 1; i < ids.length; i++) {
          const [a, b] = [parse(ids[i - 1]!), parse(ids[i]!)]
          expect(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1])).toBe(true)
        }
        yield* Effect.scoped(Effect.gen(function*() {
          const reader = yield* redis.reader
          const all = yield* reader.xread(key("s"), "0", { count: 100 })
          expect(all.map((e) => e.fields)).toEqual([0, 1, 2, 3, 4].map((n) => ({ n: String(n), from: "x" })))
          expect(all.map((e) => e.id)).toEqual(ids)
          const after = yield* reader.xread(key("s"), ids[1]!, { count: 2 })
          expect(after.map((e) => e.fields["n"])).toEqual(["2", "3"])
          expect(yield* reader.xread(key("s"), ids[4]!, { count: 10 })).toEqual([])
          expect(yield* reader.xread(key("none"), "0", { count: 10 })).toEqual([])
        }))
        // The newest id: where a reader of only what comes next starts.
        expect(yield* redis.lastId(key("s"))).toEqual(Option.some(ids[4]!))
        expect(yield* redis.lastId(key("none"))).toEqual(Option.none())
      }))

    subject.it("a blocking XREAD waits, and an XADD from elsewhere wakes it with the new entry", (redis, key) =>
      Effect.gen(function*() {
        yield* redis.xadd(key("s"), { n: "old" }, 100)
        const [old] = yield* Effect.scoped(Effect.flatMap(redis.reader, (r) => r.xread(key("s"), "0", { count: 1 })))
        const reader = yield* redis.reader
        const waiting = yield* Effect.fork(reader.xread(key("s"), old!.id, { blockMillis: 0, count: 10 }))
        yield* redis.xadd(key("other"), { n: "elsewhere" }, 100)
        yield* redis.xadd(key("s"), { n: "new" }, 100)
        const woken = yield* Fiber.join(waiting)
        expect(woken.map((e) => e.fields["n"])).toEqual(["new"])
      }))

    subject.it("a blocking XREAD with nothing written answers [] when its time runs out", (redis, key) =>
      Effect.gen(function*() {
        const reader = yield* redis.reader
        const waiting = yield* Effect.fork(reader.xread(key("quiet"), "0", { blockMillis: 100, count: 10 }))
        yield* subject.elapse(150)
        expect(yield* Fiber.join(waiting)).toEqual([])
      }))

    subject.it("a batch of XADDs lands in order, across streams, with growing ids", (redis, key) =>
      Effect.gen(function*() {
        const ids = yield* redis.xaddBatch([
          { key: key("a"), fields: { n: "1" }, maxLen: 100 },
          { key: key("b"), fields: { n: "2" }, maxLen: 100 },
          { key: key("a"), fields: { n: "3" }, maxLen: 100 }
        ])
        expect(ids).toHaveLength(3)
        expect(yield* redis.xaddBatch([])).toEqual([])
        const read = (k: string) =>
          Effect.scoped(Effect.flatMap(redis.reader, (r) => r.xread(k, "0", { count: 10 })))
        const a = yield* read(key("a"))
        expect(a.map((e) => [e.id, e.fields["n"]])).toEqual([[ids[0], "1"], [ids[2], "3"]])
        expect((yield* read(key("b"))).map((e) => e.fields["n"])).toEqual(["2"])
      }))

    subject.it("XADD MAXLEN ~ n keeps at least the newest n entries", (redis, key) =>
      Effect.gen(function*() {
        for (let i = 0; i < 250; i++) yield* redis.xadd(key("trim"), { n: String(i) }, 10)
        const kept = yield* Effect.scoped(
          Effect.flatMap(redis.reader, (r) => r.xread(key("trim"), "0", { count: 1000 }))
        )
        expect(kept.length).toBeGreaterThanOrEqual(10)
        expect(kept.length).toBeLessThan(250)
        expect(kept.slice(-10).map((e) => e.fields["n"])).toEqual(
          Array.from({ length: 10 }, (_, i) => String(240 + i))
        )
      }))

    subject.it("XADD with a time to live: the stream expires that long after its last write", (redis, key) =>
      Effect.gen(function*() {
        const entries = (k: string) => Effect.scoped(Effect.flatMap(redis.reader, (r) => r.xread(k, "0", { count: 10 })))
        yield* redis.xadd(key("reply"), { n: "1" }, 10, 1_000)
        yield* subject.elapse(600)
        // A later write moves the expiry.
        yield* redis.xaddBatch([{ key: key("reply"), fields: { n: "2" }, maxLen: 10, ttlMillis: 1_000 }])
        yield* subject.elapse(600)
        expect((yield* entries(key("reply"))).map((e) => e.fields["n"])).toEqual(["1", "2"])
        yield* subject.elapse(600)
        expect(yield* entries(key("reply"))).toEqual([])
      }))

    subject.it("a batch answers the ids of its entries, with or without a time to live", (redis, key) =>
      Effect.gen(function*() {
        const ids = yield* redis.xaddBatch([
          { key: key("s"), fields: { n: "1" }, maxLen: 10, ttlMillis: 60_000 },
          { key: key("s"), fields: { n: "2" }, maxLen: 10 },
          { key: key("t"), fields: { n: "3" }, maxLen: 10, ttlMillis: 60_000 }
        ])
        const read = (k: string) => Effect.scoped(Effect.flatMap(redis.reader, (r) => r.xread(k, "0", { count: 10 })))
        expect((yield* read(key("s"))).map((e) => e.id)).toEqual([ids[0], ids[1]])
        expect((yield* read(key("t"))).map((e) => e.id)).toEqual([ids[2]])
      }))
  })
}
