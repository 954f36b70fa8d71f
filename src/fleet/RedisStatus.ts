/**
 * Whether Redis is reachable, as seen by every command the daemon sends:
 * the first failure anywhere (a push, a read, a heartbeat) marks it
 * unreachable, the first success after marks it back; each change is logged
 * once and shown in `/health`. Recoveries are announced, so presence is
 * written again at once rather than at the next heartbeat.
 */
import { Context, Effect, Layer, PubSub, type Queue, type Scope } from "effect"
import type { RedisError } from "./RedisClient.js"
import { Stats } from "../runtime/Stats.js"

export interface RedisStatusService {
  /** Runs a Redis command, reporting whether Redis answered. */
  readonly report: <A, R>(effect: Effect.Effect<A, RedisError, R>) => Effect.Effect<A, RedisError, R>
  /** A queue that gets an item each time Redis becomes reachable again. */
  readonly recoveries: Effect.Effect<Queue.Dequeue<void>, never, Scope.Scope>
}

export class RedisStatus extends Context.Tag("termfleet/RedisStatus")<RedisStatus, RedisStatusService>() {
  static readonly layer = Layer.scoped(
    RedisStatus,
    Effect.gen(function*() {
      const stats = yield* Stats
      const recovered = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
      yield* stats.setRedis("connecting")
      return {
        report: (effect) =>
          effect.pipe(
            Effect.tapError((error) =>
              Effect.flatMap(stats.setRedis("unreachable"), (changed) =>
                changed ? Effect.logWarning(`redis unreachable: ${error.message}`) : Effect.void)
            ),
            Effect.tap(() =>
              Effect.flatMap(stats.setRedis("connected"), (changed) =>
                changed ? Effect.zipRight(Effect.logInfo("redis connected"), PubSub.publish(recovered, undefined)) : Effect.void)
            )
          ),
        recoveries: PubSub.subscribe(recovered)
      }
    })
  )
}
