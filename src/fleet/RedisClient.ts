/**
 * The narrow set of Redis commands the transport uses, behind one service so
 * tests can swap in the in-memory Layer (`RedisMemory.ts`). The contract
 * suite (`test/contract/redis-client.test.ts`) runs the same tests against
 * both Layers.
 */
import { Context, Effect, Either, Layer, Option, Schema, type Scope } from "effect"
import type { Redis, RedisOptions } from "ioredis"
import { isSentinelUrl, parseSentinelUrl, type SentinelAddress } from "../config/RedisAddress.js"

export class RedisError extends Schema.TaggedError<RedisError>()("RedisError", {
  command: Schema.String,
  message: Schema.String
}) {}

export interface StreamEntry {
  readonly id: string
  readonly fields: Readonly<Record<string, string>>
}

export interface ReadOptions {
  /** How long to wait for an entry (`0`: forever); the read returns `[]` when none came. Absent: do not wait. */
  readonly blockMillis?: number
  readonly count: number
}

/** A connection of its own: a blocking XREAD holds its connection until it returns. */
export interface StreamReader {
  /** Entries of `key` after `afterId` (`"0"` for all), oldest first. */
  readonly xread: (key: string, afterId: string, options: ReadOptions) => Effect.Effect<ReadonlyArray<StreamEntry>, RedisError>
}

export interface RedisClientService {
  readonly set: (key: string, value: string, ttlMillis?: number) => Effect.Effect<void, RedisError>
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, RedisError>
  readonly mget: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Option.Option<string>>, RedisError>
  readonly del: (key: string) => Effect.Effect<void, RedisError>
  readonly zadd: (key: string, score: number, member: string) => Effect.Effect<void, RedisError>
  readonly zrem: (key: string, member: string) => Effect.Effect<void, RedisError>
  /** Members with `min <= score <= max`, lowest score first. */
  readonly zrangeByScore: (key: string, min: number, max: number) => Effect.Effect<ReadonlyArray<string>, RedisError>
  /**
   * `XADD key MAXLEN ~ maxLen * field value ...`, and with `ttlMillis` the
   * stream expires that long after this write (`PEXPIRE`, sent with it);
   * answers the new entry's id.
   */
  readonly xadd: (
    key: string,
    fields: Readonly<Record<string, string>>,
    maxLen: number,
    ttlMillis?: number
  ) => Effect.Effect<string, RedisError>
  /**
   * Several XADDs in one round trip (a pipeline), applied in order; answers
   * their ids. Not a transaction: when one fails the batch fails, and the
   * caller writes it again (entries that did land are then refused as replays).
   */
  readonly xaddBatch: (entries: ReadonlyArray<XAddEntry>) => Effect.Effect<ReadonlyArray<string>, RedisError>
  /** The id of a stream's newest entry (`XREVRANGE key + - COUNT 1`), none when it is empty or missing: where a reader of only what comes next starts. */
  readonly lastId: (key: string) => Effect.Effect<Option.Option<string>, RedisError>
  readonly reader: Effect.Effect<StreamReader, RedisError, Scope.Scope>
}

export interface XAddEntry {
  readonly key: string
  readonly fields: Readonly<Record<string, string>>
  readonly maxLen: number
  /** The stream expires this long after this write. */
  readonly ttlMillis?: number
}

export class RedisClient extends Context.Tag("termfleet/RedisClient")<RedisClient, RedisClientService>() {
  /** The live client on ioredis. */
  static readonly layer = (url: string) => Layer.scoped(RedisClient, makeIoRedisClient(url))
}

/** The ids among a pipeline's replies: each XADD's, skipping the PEXPIRE that follows it when there is one. */
const xaddIds = (entries: ReadonlyArray<XAddEntry>, replies: ReadonlyArray<unknown>): ReadonlyArray<string> => {
  const ids: Array<string> = []
  let at = 0
  for (const entry of entries) {
    ids.push(String(replies[at]))
    at += entry.ttlMillis === undefined ? 1 : 2
  }
  return ids
}

const xaddArgs = ({ fields, key, maxLen }: XAddEntry): Array<string | number> => {
  const args: Array<string | number> = [key, "MAXLEN", "~", maxLen, "*"]
  for (const field in fields) args.push(field, fields[field]!)
  return args
}

const score = (n: number) => (n === Infinity ? "+inf" : n === -Infinity ? "-inf" : String(n))

const XReadReply = Schema.NullOr(
  Schema.Array(Schema.Tuple(Schema.String, Schema.Array(Schema.Tuple(Schema.String, Schema.Array(Schema.String)))))
)
const decodeXRead = Schema.decodeUnknownEither(XReadReply)

export const fieldsFromFlat = (flat: ReadonlyArray<string>): Record<string, string> => {
  const fields: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!
  return fields
}

/**
 * A Redis that stops answering (stalled, or a connection silently dead) must
 * not hold anything for ever: each command fails after this long, so callers
 * retry, `/health` says unreachable and requests keep their deadline.
 */
const COMMAND_TIMEOUT_MILLIS = 2_000
/** A blocking read gets this long past its own block time before its connection is taken as dead and replaced. */
const READ_GRACE_MILLIS = 2_000

const options = {
  lazyConnect: false,
  maxRetriesPerRequest: 2,
  // Off: it wraps every command in a pipeline sent on the next tick, and holds a command back while
  // the previous pipeline's replies are outstanding; the hot path batches its XADDs itself.
  enableAutoPipelining: false,
  commandTimeout: COMMAND_TIMEOUT_MILLIS
} satisfies RedisOptions

/**
 * Through Sentinels: ioredis asks them for the master, and on a failover
 * (their `+switch-master`, or a write refused by a master turned replica)
 * connects to the new one; commands in flight meanwhile are sent again.
 */
const viaSentinels = (address: SentinelAddress): RedisOptions => ({
  ...options,
  sentinels: [...address.sentinels],
  name: address.name,
  ...Option.match(address.username, { onNone: () => ({}), onSome: (username) => ({ username }) }),
  ...Option.match(address.password, { onNone: () => ({}), onSome: (password) => ({ password }) }),
  failoverDetector: true,
  reconnectOnError: (error) => (error.message.startsWith("READONLY") ? 2 : false)
})

const connect = (url: string) =>
  Effect.acquireRelease(
    // ioredis (and what it requires) loads only in a fleet: a local-only daemon starts without it.
    // Its default export: the bundle's import of this CommonJS module has no named ones.
    Effect.map(Effect.promise(() => import("ioredis")), ({ default: { Redis: IoRedis } }): Redis =>
      Either.match(isSentinelUrl(url) ? parseSentinelUrl(url) : Either.left("one server"), {
        onLeft: () => new IoRedis(url, options),
        onRight: (address) => new IoRedis(viaSentinels(address))
      })),
    (redis) => Effect.sync(() => redis.disconnect())
  )

export const makeIoRedisClient = (url: string): Effect.Effect<RedisClientService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* connect(url)
    // ioredis emits "error" on every failed reconnect; without a listener Node
    // treats it as unhandled. State changes are reported by the callers.
    redis.on("error", () => {})
    const run = <A>(command: string, f: () => Promise<A>) =>
      Effect.tryPromise({
        try: f,
        catch: (cause) => new RedisError({ command, message: cause instanceof Error ? cause.message : String(cause) })
      })
    // One round trip, in order; no MULTI/EXEC around it (two more commands per batch).
    const xaddBatch = (entries: ReadonlyArray<XAddEntry>): Effect.Effect<ReadonlyArray<string>, RedisError> =>
      entries.length === 0 ? Effect.succeed([]) : Effect.flatMap(
        run("XADD", () => {
          // One entry, nearly every batch at a low rate: the command alone, without a pipeline around it.
          if (entries.length === 1 && entries[0]!.ttlMillis === undefined) {
            return redis.call("XADD", ...xaddArgs(entries[0]!)).then((id): Array<[Error | null, unknown]> => [[null, id]])
          }
          const pipeline = redis.pipeline()
          for (const entry of entries) {
            pipeline.call("XADD", ...xaddArgs(entry))
            if (entry.ttlMillis !== undefined) pipeline.pexpire(entry.key, entry.ttlMillis)
          }
          return pipeline.exec()
        }),
        (results) => {
          const failed = (results ?? []).find(([error]) => error !== null)
          return failed !== undefined || results === null
            ? Effect.fail(new RedisError({ command: "XADD", message: failed?.[0]?.message ?? "pipeline discarded" }))
            : Effect.succeed(xaddIds(entries, results.map(([, reply]) => reply)))
        }
      )

    return {
      set: (key, value, ttlMillis) =>
        run("SET", () => (ttlMillis === undefined ? redis.set(key, value) : redis.set(key, value, "PX", ttlMillis))),
      get: (key) => Effect.map(run("GET", () => redis.get(key)), Option.fromNullable),
      mget: (keys) =>
        keys.length === 0
          ? Effect.succeed([])
          : Effect.map(run("MGET", () => redis.mget(...keys)), (values) => values.map(Option.fromNullable)),
      del: (key) => run("DEL", () => redis.del(key)),
      zadd: (key, s, member) => run("ZADD", () => redis.zadd(key, s, member)),
      zrem: (key, member) => run("ZREM", () => redis.zrem(key, member)),
      zrangeByScore: (key, min, max) => run("ZRANGEBYSCORE", () => redis.zrangebyscore(key, score(min), score(max))),
      xaddBatch,
      lastId: (key) =>
        Effect.map(run("XREVRANGE", () => redis.xrevrange(key, "+", "-", "COUNT", 1)), (entries) =>
          Option.fromNullable(entries[0]?.[0])),
      xadd: (key, fields, maxLen, ttlMillis) =>
        Effect.map(xaddBatch([ttlMillis === undefined ? { key, fields, maxLen } : { key, fields, maxLen, ttlMillis }]), (ids) => ids[0]!),
      reader: Effect.gen(function*() {
        // Its reads block on purpose: no command timeout, but a read unanswered
        // READ_GRACE past its block time replaces the connection, so a read is
        // not queued behind one that will never return.
        const open = () => {
          const conn = redis.duplicate({ commandTimeout: undefined })
          conn.on("error", () => {})
          return conn
        }
        let blocking = open()
        yield* Effect.addFinalizer(() => Effect.sync(() => blocking.disconnect()))
        const failed = (message: string) => new RedisError({ command: "XREAD", message })
        return {
          // One callback per read, on the hot path: the watchdog is a plain
          // timer (like ioredis's own commandTimeout), not a race of fibers.
          xread: (key, afterId, { blockMillis, count }) =>
            Effect.async<ReadonlyArray<StreamEntry>, RedisError>((resume) => {
              const conn = blocking
              let done = false
              const watchdog = setTimeout(() => {
                done = true
                if (conn === blocking) {
                  conn.disconnect()
                  blocking = open()
                }
                resume(Effect.fail(failed("Redis did not answer; connection replaced")))
              }, (blockMillis ?? 0) + READ_GRACE_MILLIS)
              const reply = blockMillis === undefined
                ? conn.xread("COUNT", count, "STREAMS", key, afterId)
                : conn.xread("COUNT", count, "BLOCK", blockMillis, "STREAMS", key, afterId)
              reply.then(
                (value) => {
                  if (done) return
                  done = true
                  clearTimeout(watchdog)
                  resume(Either.match(decodeXRead(value), {
                    onLeft: (e) => Effect.fail(failed(e.message)),
                    onRight: (streams) =>
                      Effect.succeed((streams ?? []).flatMap(([, entries]) => entries.map(([id, flat]) => ({ id, fields: fieldsFromFlat(flat) }))))
                  }))
                },
                (cause: unknown) => {
                  if (done) return
                  done = true
                  clearTimeout(watchdog)
                  resume(Effect.fail(failed(cause instanceof Error ? cause.message : String(cause))))
                }
              )
              return Effect.sync(() => {
                done = true
                clearTimeout(watchdog)
              })
            })
        } satisfies StreamReader
      })
    } satisfies RedisClientService
  })
