/**
 * Reads one Redis stream for ever, in order, from the last id handled, which
 * (with `resume`) is stored in Redis so a restarted daemon resumes there
 * (never `$`, which would skip what was sent while it was away). Uses a
 * connection of its own, since a blocking XREAD holds its connection. Redis
 * errors are retried with capped exponential backoff; the stored id is read
 * again only once it can be, never replaced by a guess.
 */
import { Effect, Option, Schedule, type Scope } from "effect"
import { RedisClient, type RedisError, type StreamEntry } from "./RedisClient.js"
import { RedisStatus } from "./RedisStatus.js"
import { surviving } from "../runtime/Survive.js"

/** How long one blocking read waits before it is issued again. */
const BLOCK_MILLIS = 5_000
/** How often, at most, the cursor is stored while it moves. */
const STORE_EVERY = "200 millis"

export const reconnectSchedule = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/**
 * `Effect.retry` for a step run once per batch: the schedule's driver (and
 * the context it provides) is set up only once the step has failed, as
 * setting it up costs more than a step that succeeds. The first retry comes
 * at once, later ones on `schedule`.
 */
export const retryingOnFailure = <A, E, R, Out, RS>(
  step: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<Out, E, RS>
): Effect.Effect<A, E, R | RS> => Effect.catchAll(step, () => Effect.retry(step, schedule))

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

    // The cursor is stored apart from the reads, at most every STORE_EVERY
    // while it moves: a SET per batch would double the round trips of a
    // stream that carries one entry a batch. A daemon that stops or dies
    // before the last one landed resumes up to that much earlier; the
    // entries it reads again are refused by the replay windows (kept in the
    // state folder), so none is applied twice and none is skipped.
    let stored: string | undefined
    const moved = yield* Effect.makeLatch(false)
    if (resume !== undefined) {
      const store = Effect.suspend(() => {
        if (Option.isNone(cursor) || cursor.value === stored) return Effect.void
        const id = cursor.value
        // Reported only when a SET is sent: a store with nothing new is no sign that Redis takes writes.
        return Effect.tap(status.report("write", redis.set(resume.key, id, resume.ttlMillis)), () => void (stored = id))
      })
      yield* moved.await.pipe(
        Effect.zipRight(moved.close),
        Effect.zipRight(Effect.sleep(STORE_EVERY)),
        Effect.zipRight(store),
        // A failed SET is made again with the next batch (the cursor moved).
        Effect.catchAll((error) => Effect.zipRight(moved.open, Effect.logDebug(`storing ${resume.key} failed: ${error.message}`))),
        (step) => surviving(`storing ${resume.key}`, step),
        Effect.forever,
        Effect.forkScoped
      )
      // On the way out the last cursor is sent, not waited for: a stop with Redis gone stays quick.
      yield* Effect.addFinalizer(() => Effect.asVoid(Effect.forkDaemon(store)))
    }

    const readOnce = Effect.gen(function*() {
      const from = Option.isSome(cursor) ? cursor.value : yield* storedCursor
      cursor = Option.some(from)
      stored ??= from
      const entries = yield* reader.xread(options.stream, from, { blockMillis: BLOCK_MILLIS, count: options.count })
      if (entries.length === 0) return
      yield* options.handle(entries)
      cursor = Option.some(entries[entries.length - 1]!.id)
      moved.unsafeOpen()
    })

    yield* status.report("read", readOnce).pipe(
      Effect.tapError((error) => Effect.logDebug(`reading ${options.stream} failed: ${error.message}`)),
      (step) => retryingOnFailure(step, reconnectSchedule),
      (step) => surviving(`reading ${options.stream}`, step),
      Effect.forever,
      Effect.forkScoped
    )
  })
