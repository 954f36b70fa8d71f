/** Counters reported by `/health`. One instance per daemon (not global metrics), so two daemons in one test stay apart. */
import { Context, Effect, Layer } from "effect"
import type { RedisState } from "../domain/Api.js"

export interface Counters {
  redis: RedisState
  eventsIn: number
  eventsOut: number
  decodeFailures: number
  droppedClients: number
  /** Hook calls taken, and refused (bad token, malformed body, unknown session). */
  hooksIn: number
  hooksRefused: number
}

export interface StatsService {
  readonly snapshot: Effect.Effect<Readonly<Counters>>
  readonly add: (counter: Exclude<keyof Counters, "redis">, n?: number) => Effect.Effect<void>
  /** Sets the Redis state (`RedisStatus` decides it). */
  readonly setRedis: (state: RedisState) => Effect.Effect<void>
}

export class Stats extends Context.Tag("termfleet/Stats")<Stats, StatsService>() {
  static readonly layer = Layer.sync(Stats, () => {
    const counters: Counters = { redis: "local-only", eventsIn: 0, eventsOut: 0, decodeFailures: 0, droppedClients: 0, hooksIn: 0, hooksRefused: 0 }
    return {
      snapshot: Effect.sync(() => ({ ...counters })),
      add: (counter, n = 1) => Effect.sync(() => void (counters[counter] += n)),
      setRedis: (state) => Effect.sync(() => void (counters.redis = state))
    }
  })
}
