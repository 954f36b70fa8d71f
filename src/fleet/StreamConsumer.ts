/**
 * Reads one Redis stream for ever, in order, from the last id handled, which
 * (with `resume`) is stored in Redis so a restarted daemon resumes there
 * (never `$`, which would skip what was sent while it was away). Uses a
 * connection of its own, since a blocking XREAD holds its connection. Redis
 * errors are retried with capped exponential backoff; the stored id is read
 * again only once it can be, never replaced by a guess.
 */
import { Effect, Fiber, Option, Schedule, type Scope } from "effect"
import { RedisClient, type RedisError, type StreamEntry } from "./RedisClient.js"
import { RedisStatus } from "./RedisStatus.js"
import { surviving } from "../runtime/Survive.js"

/** How long one blocking read waits before it is issued again. */
const BLOCK_MILLIS = 5_000

export const reconnectSchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/** A Redis stream entry id, as XADD makes them. */
export const isStreamId = (id: string): boolean => /^\d{1,20}-\d{1,20}$/.test(id)

export interface ConsumerOptions {
  readonly stream: string
  /** Where the last id handled is stored, expiring `ttlMillis` after it last moved; without it, reading starts at the stream's start. */
  readonly resume?: { readonly key: string; readonly ttlMillis: number }
  readonly count: number
  /** Handles one batch, oldest first; the cursor moves past it afterwards. */
  readonly handle: (entries: ReadonlyArray<StreamEntry>) => Effect.Effect<void, RedisError>
}

/** Forks the reading loop into the current scope. */
export const consumeStream = (
  options: ConsumerOptions
): Effect.Effect<void, RedisError, RedisClient | RedisStatus | Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* RedisClient
    const status = yield* RedisStatus
    const reader = yield* redis.reader
    let cursor = Option.none<string>()

    const { resume } = options
    // Whatever is stored is checked: a garbled id would fail every read.
    const storedCursor = resume === undefined ? Effect.succeed("0") : Effect.flatMap(redis.get(resume.key), (stored) =>
      Option.match(Option.filter(stored, isStreamId), {
        onNone: () =>
          Option.isSome(stored)
            ? Effect.as(Effect.logWarning(`ignored a malformed cursor in ${resume.key}; reading ${options.stream} from its start`), "0")
            : Effect.succeed("0"),
        onSome: Effect.succeed
      }))

    // The cursor is stored without holding back the next read: its SET goes
    // out (on the shared connection) while the next XREAD waits (on this
    // reader's own), and is awaited before the next SET, so they land in
    // order and a failed one is made again. The last one is in flight when
    // the daemon stops (nothing waits for it, so a stop with Redis gone stays
    // quick); a daemon killed before it lands resumes from the batch before,
    // whose entries the replay windows refuse.
    let storing = Option.none<Fiber.Fiber<void, RedisError>>()
    const stored = Effect.suspend(() => (Option.isSome(storing) ? Fiber.join(storing.value) : Effect.void)).pipe(
      Effect.tap(() => void (storing = Option.none()))
    )

    const readOnce = Effect.gen(function*() {
      const from = Option.isSome(cursor) ? cursor.value : yield* storedCursor
      cursor = Option.some(from)
      const entries = yield* reader.xread(options.stream, from, { blockMillis: BLOCK_MILLIS, count: options.count })
      if (entries.length === 0) return
      yield* options.handle(entries)
      const last = entries[entries.length - 1]!.id
      cursor = Option.some(last)
      if (resume === undefined) return
      yield* stored
      // A daemon fiber: one command, which ends on its own (ioredis gives up after two reconnects).
      storing = Option.some(yield* Effect.forkDaemon(redis.set(resume.key, last, resume.ttlMillis)))
    })

    yield* status.report("read", readOnce).pipe(
      Effect.tapError((error) => Effect.logDebug(`reading ${options.stream} failed: ${error.message}`)),
      // A failed cursor SET is made again with the next batch's.
      Effect.tapError(() => Effect.sync(() => void (storing = Option.none()))),
      Effect.retry(reconnectSchedule),
      (step) => surviving(`reading ${options.stream}`, step),
      Effect.forever,
      Effect.forkScoped
    )
  })
