/**
 * Reads one Redis stream for ever, in order, from the last id handled, which
 * is stored in Redis so a restarted daemon resumes there (never `$`, which
 * would skip what was sent while it was away). Uses a connection of its
 * own, since a blocking XREAD holds its connection. Redis errors are retried
 * with capped exponential backoff; the stored id is read again only once it
 * can be, never replaced by a guess.
 */
import { Effect, Option, Schedule, type Scope } from "effect"
import { RedisClient, type RedisError, type StreamEntry } from "./RedisClient.js"
import { RedisStatus } from "./RedisStatus.js"

/** How long one blocking read waits before it is issued again. */
const BLOCK_MILLIS = 5_000

export const reconnectSchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

export interface ConsumerOptions {
  readonly stream: string
  readonly cursorKey: string
  readonly count: number
  /** Handles one batch, oldest first; the cursor moves past it afterwards. */
  readonly handle: (entries: ReadonlyArray<StreamEntry>) => Effect.Effect<void, RedisError>
}

/** Forks the reading loop into the current scope; answers the last id handled. */
export const consumeStream = (
  options: ConsumerOptions
): Effect.Effect<Effect.Effect<Option.Option<string>>, RedisError, RedisClient | RedisStatus | Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* RedisClient
    const status = yield* RedisStatus
    const reader = yield* redis.reader
    let cursor = Option.none<string>()

    const readOnce = Effect.gen(function*() {
      const from = Option.isSome(cursor)
        ? cursor.value
        : Option.getOrElse(yield* redis.get(options.cursorKey), () => "0")
      cursor = Option.some(from)
      const entries = yield* reader.xread(options.stream, from, { blockMillis: BLOCK_MILLIS, count: options.count })
      if (entries.length === 0) return
      yield* options.handle(entries)
      const last = entries[entries.length - 1]!.id
      cursor = Option.some(last)
      yield* redis.set(options.cursorKey, last)
    })

    yield* status.report(readOnce).pipe(
      Effect.tapError((error) => Effect.logDebug(`reading ${options.stream} failed: ${error.message}`)),
      Effect.retry(reconnectSchedule),
      Effect.forever,
      Effect.forkScoped
    )
    return Effect.sync(() => cursor)
  })
