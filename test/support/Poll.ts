/**
 * Waiting for a state only an outside process can reach (a daemon's /health,
 * a key in Redis, a tmux screen), within an explicit bound. The interval is
 * how often it is looked at, not a guess at how long something takes.
 */
import { Effect, Either } from "effect"

const show = (value: unknown) => {
  if (typeof value === "string") return value.includes("\n") ? `\n${value}` : value
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/**
 * Runs `effect` until `until` holds for its value, every `everyMillis`, for at
 * most `withinMillis`. Failures of `effect` (a daemon not answering yet) are
 * retried too. Fails naming what was awaited and the last thing seen.
 */
export const pollUntil = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  until: (value: A) => boolean,
  what: string,
  withinMillis = 15_000,
  everyMillis = 100
): Effect.Effect<A, Error, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMillis
    let last = "(nothing yet)"
    while (true) {
      const result = yield* Effect.either(effect)
      if (Either.isRight(result)) {
        if (until(result.right)) return result.right
        last = show(result.right)
      } else {
        last = `error: ${show(result.left instanceof Error ? result.left.message : result.left)}`
      }
      if (Date.now() >= deadline) {
        return yield* Effect.fail(new Error(`still waiting for ${what} after ${withinMillis} ms; last seen: ${last.slice(0, 2000)}`))
      }
      yield* Effect.sleep(everyMillis)
    }
  })

/** Like `pollUntil`, but answers whether the state was reached instead of failing, for soft checks. */
export const pollReached = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  until: (value: A) => boolean,
  what: string,
  withinMillis: number,
  everyMillis = 100
): Effect.Effect<Either.Either<A, Error>, never, R> => Effect.either(pollUntil(effect, until, what, withinMillis, everyMillis))
