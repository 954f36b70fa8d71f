/**
 * Presence and interest. Every 20 s a daemon writes its Computer (with the
 * topics its clients want) to a key that expires in 60 s and to the sorted
 * set peers discover each other by (never `KEYS`), then reads its peers.
 * When its interest changes it also writes the heartbeat into every live
 * peer's event stream, so peers learn of it at once, not 20 s later.
 */
import { Array as Arr, Context, Deferred, Effect, Fiber, Layer, Option, Queue, Schema, Stream } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
import { RedisClient } from "./RedisClient.js"
import { redisKeys } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { Seal } from "./Seal.js"
import { Computer, Ttl } from "../domain/Model.js"
import { EventStream } from "./EventStream.js"
import type { PeerEvent } from "./PeerEvent.js"
import type { RedisError } from "./RedisClient.js"
import { reconnectSchedule } from "./StreamConsumer.js"

const decodeComputer = Schema.decodeUnknownOption(Schema.parseJson(Computer))
const decodeFields = Schema.decodeUnknownOption(Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.String })))

/** Another daemon runs as this computer: refused at start, or this run was taken over (`--take-over`). */
export class ComputerTaken extends Schema.TaggedError<ComputerTaken>()("ComputerTaken", {
  computer: Schema.String,
  message: Schema.String
}) {}

export interface HeartbeatService {
  /** Writes presence and reads peers now; tells peers too if Redis was not reachable before. */
  readonly beat: Effect.Effect<void, RedisError>
  /** Writes `event` into the stream of every live peer. */
  readonly broadcast: (event: PeerEvent) => Effect.Effect<void>
  /** Fails once a newer run of this computer writes its presence: this one must stop. */
  readonly takenOver: Effect.Effect<never, ComputerTaken>
}

export class Heartbeat extends Context.Tag("termfleet/Heartbeat")<Heartbeat, HeartbeatService>() {
  static readonly layer = Layer.scoped(
    Heartbeat,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const self = config.computer
      const keys = redisKeys(config.prefix)
      const [cache, redis, seal, stats, status] = yield* Effect.all([SessionCache, RedisClient, Seal, Stats, RedisStatus])
      const events = yield* EventStream

      const peers = Effect.map(cache.computers, Arr.filter((c) => c.name !== self))

      const broadcast = (event: PeerEvent) =>
        Effect.flatMap(peers, (live) => events.push(live.map((peer) => peer.name), event))

      // One name, one daemon. Its presence says which run wrote it (the epoch it is sealed with).
      const presenceOf = (name: string, value: string) =>
        Option.flatMap(Option.flatMap(decodeFields(value), (fields) => Option.getRight(seal.verify(keys.computer(name), fields))), (opened) =>
          Option.map(
            Option.filter(decodeComputer(opened.body), (computer) => computer.name === name),
            (computer) => ({ computer, epoch: opened.epoch })
          ))
      const since = (computer: Computer) => new Date(computer.startedAt).toISOString()

      // At start: a live presence of this name written by another run (not this state folder's
      // previous run, which may have crashed a moment ago) is another daemon. Unless told to take
      // it over, this one refuses to start rather than run as its silent twin.
      const claim = Effect.gen(function*() {
        const holder = Option.flatMap(yield* redis.get(keys.computer(self)), (value) => presenceOf(self, value))
        if (Option.isNone(holder) || Option.contains(seal.previousEpoch, holder.value.epoch)) return
        const { computer } = holder.value
        if (!config.takeOver) {
          return yield* new ComputerTaken({
            computer: self,
            message: `computer '${self}' is already run by another daemon (started ${since(computer)}, version ${computer.version}); ` +
              `stop it, give this one another --computer, or start this one with --take-over to replace it`
          })
        }
        yield* Effect.logWarning(`taking computer '${self}' over from the daemon started ${since(computer)}; it stops within seconds`)
      })
      yield* claim.pipe(Effect.catchTag("RedisError", () => Effect.void))

      // Later: a newer run wrote this name's presence (it took over): this one stops, without
      // a goodbye or deleting the presence, which are the new run's now.
      const replaced = yield* Deferred.make<never, ComputerTaken>()
      const noticeTakeOver = (value: string) =>
        Option.match(Option.filter(presenceOf(self, value), (holder) => holder.epoch > seal.epoch), {
          onNone: () => Effect.void,
          onSome: ({ computer }) =>
            Deferred.fail(replaced, new ComputerTaken({
              computer: self,
              message: `computer '${self}' was taken over by the daemon started ${since(computer)} (--take-over); this one stops`
            }))
        })
      const stillOurs = Effect.map(Deferred.isDone(replaced), (done) => !done)

      const writePresence = Effect.gen(function*() {
        if (!(yield* stillOurs)) return
        const computer = yield* cache.me
        const sealed = yield* seal.seal(keys.computer(self), JSON.stringify(computer))
        yield* redis.set(keys.computer(self), JSON.stringify(sealed), Ttl.computerMillis)
        yield* redis.zadd(keys.computers, computer.lastSeen, self)
      })

      // A peer missing here is not removed: Redis may have restarted empty and
      // the peer not written again yet. The cache drops a peer 60 s after its
      // last heartbeat was first seen, so clocks of computers are never compared.
      const discover = Effect.gen(function*() {
        const names = yield* redis.zrangeByScore(keys.computers, -Infinity, Infinity)
        const values = yield* redis.mget(names.map(keys.computer))
        for (const [name, value] of Arr.zip(names, values)) {
          if (Option.isNone(value)) {
            yield* redis.zrem(keys.computers, name)
            continue
          }
          if (name === self) {
            yield* noticeTakeOver(value.value)
            continue
          }
          const presence = presenceOf(name, value.value)
          if (Option.isNone(presence)) {
            yield* stats.add("decodeFailures")
            continue
          }
          yield* cache.upsertComputer(presence.value.computer)
        }
      })

      const announce = Effect.flatMap(cache.me, (computer) => broadcast({ _tag: "heartbeat", computer }))

      const beat = status.report("write", Effect.zipRight(writePresence, discover))
      const retried = Effect.retry(beat, reconnectSchedule)

      // The first beat runs before the layer is up, so a started daemon is
      // already known to Redis and knows its peers; if Redis is down the
      // daemon starts anyway, serving its own sessions, and keeps trying.
      const first = yield* Effect.either(beat)
      if (first._tag === "Right") yield* announce
      const presence = yield* (first._tag === "Left" ? retried : Effect.void).pipe(
        Effect.zipRight(Effect.forever(Effect.zipRight(Effect.sleep(config.heartbeatMillis), retried))),
        Effect.forkScoped
      )
      // Discovery runs more often than presence is written, so a peer whose
      // key expired leaves the dashboards within a few seconds of it.
      const discovery = yield* status.report("read", discover).pipe(
        Effect.ignore,
        Effect.delay(config.discoveryMillis),
        Effect.forever,
        Effect.forkScoped
      )
      // Back from an outage: presence again at once, and peers told.
      const recoveries = yield* status.recoveries
      const recovery = yield* Queue.take(recoveries).pipe(
        Effect.zipRight(Effect.ignore(Effect.zipRight(beat, announce))),
        Effect.forever,
        Effect.forkScoped
      )
      // Topics, and the terminals of peers' sessions watched here: owners start or stop streaming them at once.
      const interest = yield* cache.interest.changes.pipe(
        Stream.changesWith(Arr.getEquivalence<string>((a, b) => a === b)),
        Stream.drop(1),
        Stream.merge(cache.watching.changes.pipe(
          Stream.changesWith(Arr.getEquivalence((a, b) => a.computer === b.computer && a.sessionId === b.sessionId)),
          Stream.drop(1)
        )),
        Stream.runForEach(() => Effect.ignore(status.report("write", Effect.zipRight(writePresence, announce)))),
        Effect.forkScoped
      )
      // Nothing may write after the goodbye, and Redis being away may not hold
      // up the exit: the goodbye gets one second.
      yield* Effect.addFinalizer(() =>
        Fiber.interruptAll([presence, discovery, recovery, interest]).pipe(
          Effect.zipRight(stillOurs),
          Effect.flatMap((ours) =>
            ours ? Effect.all([
              broadcast({ _tag: "goodbye", computer: self }),
              redis.del(keys.computer(self)),
              redis.zrem(keys.computers, self)
            ]).pipe(Effect.interruptible, Effect.timeout("1 second"), Effect.ignore) : Effect.void
          )
        )
      )
      return { beat, broadcast, takenOver: Deferred.await(replaced) }
    })
  )
}
