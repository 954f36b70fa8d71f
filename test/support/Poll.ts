/** Waits for a condition that only an outside process can make true (a tmux screen, a terminal's output), within a bound. */
import { Effect, Schedule } from "effect"

export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  until: (value: A) => boolean,
  what: string
): Effect.Effect<A, E | Error, R> =>
  effect.pipe(
    Effect.filterOrFail(until, (value) => new Error(`still waiting for ${what}; last seen:\n${String(value)}`)),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(150))))
  )
