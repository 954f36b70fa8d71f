/**
 * Whether Redis is reachable, as seen by every command the daemon sends:
 * the first failure anywhere (a push, a read, a heartbeat) marks it
 * unreachable, the first success after marks it back; each change is logged
 * once and shown in `/health`. A Redis that is full (`maxmemory` with
 * `noeviction`) answers reads and refuses writes (`OOM`): that is one state,
 * `degraded`, left only when a write goes through, so reads that work do not
 * make it flap. Recoveries are announced, so presence is written again at
 * once rather than at the next heartbeat.
 */
import { Context, Effect, Layer, PubSub, type Queue, type Scope } from "effect"
import type { RedisError } from "./RedisClient.js"
import { Stats } from "../runtime/Stats.js"
import type { RedisState } from "../domain/Api.js"

/** What a reported command does: only a write that goes through shows Redis takes writes again. */
export type Access = "read" | "write"

export interface RedisStatusService {
  /** Runs Redis commands, reporting whether Redis answered. */
  readonly report: <A, R>(access: Access, effect: Effect.Effect<A, RedisError, R>) => Effect.Effect<A, RedisError, R>
  /** A queue that gets an item each time Redis becomes reachable (and writable) again. */
  readonly recoveries: Effect.Effect<Queue.Dequeue<void>, never, Scope.Scope>
}

/** Redis's answer to a write it has no memory for ("OOM command not allowed when used memory > 'maxmemory'"). */
const refusedForMemory = (error: RedisError) => error.message.startsWith("OOM ")

export class RedisStatus extends Context.Tag("termfleet/RedisStatus")<RedisStatus, RedisStatusService>() {
  static readonly layer = Layer.scoped(
    RedisStatus,
    Effect.gen(function*() {
      const stats = yield* Stats
      const recovered = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
      let state: RedisState = "connecting"
      yield* stats.setRedis(state)
      const become = (next: RedisState, log: Effect.Effect<void>) =>
        Effect.suspend(() => {
          if (state === next) return Effect.void
          state = next
          return Effect.zipRight(stats.setRedis(next), log)
        })
      return {
        report: (access, effect) =>
          effect.pipe(
            Effect.tapError((error) =>
              refusedForMemory(error)
                ? become("degraded", Effect.logWarning(`redis degraded: writes refused (${error.message})`))
                : become("unreachable", Effect.logWarning(`redis unreachable: ${error.message}`))
            ),
            Effect.tap(() =>
              access === "read" && state === "degraded"
                ? Effect.void
                : become("connected", Effect.zipRight(Effect.logInfo("redis connected"), PubSub.publish(recovered, undefined)))
            )
          ),
        recoveries: PubSub.subscribe(recovered)
      }
    })
  )
}
