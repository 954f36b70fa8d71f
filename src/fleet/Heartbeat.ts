/**
 * Presence and interest. Every 20 s a daemon writes its Computer (with the
 * topics its clients want) to a key that expires in 60 s and to the sorted
 * set peers discover each other by (never `KEYS`), then reads its peers.
 * When its interest changes it also writes the heartbeat into every live
 * peer's event stream, so peers learn of it at once, not 20 s later.
 *
 * A presence also says which run wrote it (pid, host, `--take-over`). Its
 * own name's is read at every beat and discovery: two live runs of one name
 * meet there within seconds, even if one started while Redis was away or
 * empty, and agree which of them stops (`meet`).
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
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { EventStream } from "./EventStream.js"
import type { PeerEvent } from "./PeerEvent.js"
import type { RedisError } from "./RedisClient.js"
import { reconnectSchedule } from "./StreamConsumer.js"

/** Who wrote a presence, beside the computer it describes: where to find that daemon, and whether it takes the name over. */
const Run = Schema.Struct({ id: Schema.String, pid: Schema.Number, host: Schema.String, takeOver: Schema.Boolean })
type Run = typeof Run.Type
/** A presence: the computer as peers see it, and (from this version on) its run. */
const Presence = Schema.Struct({ ...Computer.fields, run: Schema.optional(Run) })
const decodePresence = Schema.decodeUnknownOption(Schema.parseJson(Presence))
const decodeFields = Schema.decodeUnknownOption(Schema.parseJson(Schema.Record({ key: Schema.String, value: Schema.String })))

/** Another daemon runs as this computer: this run refused to be its twin, or was taken over (`--take-over`). */
export class ComputerTaken extends Schema.TaggedError<ComputerTaken>()("ComputerTaken", {
  computer: Schema.String,
  message: Schema.String
}) {}

export interface HeartbeatService {
  /** Meets this name's presence, writes its own and reads peers now; tells peers too if Redis was not reachable before. */
  readonly beat: Effect.Effect<void, RedisError>
  /** Writes `event` into the stream of every live peer. */
  readonly broadcast: (event: PeerEvent) => Effect.Effect<void>
  /** Fails once this run must stop: another live run of its computer holds the name (see `meet`). */
  readonly nameLost: Effect.Effect<never, ComputerTaken>
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

      // One name, one daemon. A presence says which run wrote it, and where that run is, so a user told of a twin can find it.
      const run: Run = { id: randomBytes(8).toString("hex"), pid: process.pid, host: hostname(), takeOver: config.takeOver }
      const { startedAt } = yield* cache.me
      const presenceOf = (name: string, value: string) =>
        Option.flatMap(Option.flatMap(decodeFields(value), (fields) => Option.getRight(seal.verify(keys.computer(name), fields))), (opened) =>
          Option.map(
            Option.filter(decodePresence(opened.body), (presence) => presence.name === name),
            ({ run, ...computer }) => ({ computer, run: Option.fromNullable(run), epoch: opened.epoch })
          ))
      type Holder = { readonly computer: Computer; readonly run: Option.Option<Run>; readonly epoch: number }
      const about = ({ computer, run }: Holder) =>
        [
          `started ${new Date(computer.startedAt).toISOString()}`,
          ...Option.toArray(Option.map(run, ({ host, pid }) => `pid ${pid} on host ${host}`)),
          `version ${computer.version}`
        ].join(", ")

      // Whenever this name's presence is read and another live run wrote it (not this state folder's previous run, which
      // may have crashed a moment ago): of the two, the newer stops, unless it was started with --take-over, when the older
      // does. The one that stays writes its presence at once, so the other meets it within one discovery. Runs are ordered
      // by start time (their ids break a tie), so both come to the same verdict.
      const lost = yield* Deferred.make<never, ComputerTaken>()
      const stillOurs = Effect.map(Deferred.isDone(lost), (done) => !done)
      const stop = (message: string) => Deferred.fail(lost, new ComputerTaken({ computer: self, message }))
      // The start time of the other run last met, so each is logged (and renewed against) once.
      let told: number | undefined
      const meet = (value: string): Effect.Effect<void, RedisError> =>
        Option.match(presenceOf(self, value), {
          onNone: () => Effect.void,
          onSome: (holder) => {
            const other = Option.getOrUndefined(holder.run)
            if (other?.id === run.id || Option.contains(seal.previousEpoch, holder.epoch)) return Effect.void
            const newer = holder.computer.startedAt === startedAt ? (other?.id ?? "") > run.id : holder.computer.startedAt > startedAt
            if (newer && other?.takeOver === true) {
              return stop(`computer '${self}' was taken over by the daemon ${about(holder)} (--take-over); this one stops`)
            }
            if (!newer && !config.takeOver) {
              return stop(`computer name '${self}' is in use by another daemon (${about(holder)}); stop it or start this one with --take-over`)
            }
            if (told === holder.computer.startedAt) return writePresence
            told = holder.computer.startedAt
            if (!newer) {
              return Effect.zipRight(
                Effect.logWarning(`taking computer '${self}' over from the daemon ${about(holder)}; it stops within seconds`),
                writePresence
              )
            }
            // The twin may have written to peers meanwhile with a newer epoch than this run's, which their replay windows
            // would prefer to this run's from now on, and its snapshot replaced this run's sessions there: so this run
            // seals above the twin's epoch, and sends every peer its snapshots again.
            return Effect.logWarning(
              `another daemon runs as computer '${self}', without --take-over (${about(holder)}); it stops within seconds, this one runs on`
            ).pipe(
              Effect.zipRight(seal.renew(holder.epoch)),
              Effect.zipRight(writePresence),
              Effect.zipRight(Effect.flatMap(peers, Effect.forEach((peer) => events.resend(peer.name), { discard: true })))
            )
          }
        })

      const writePresence: Effect.Effect<void, RedisError> = Effect.gen(function*() {
        if (!(yield* stillOurs)) return
        const computer = yield* cache.me
        const sealed = yield* seal.seal(keys.computer(self), JSON.stringify({ ...computer, run }))
        yield* redis.set(keys.computer(self), JSON.stringify(sealed), Ttl.computerMillis)
        yield* redis.zadd(keys.computers, computer.lastSeen, self)
      })

      // A peer missing here is not removed: Redis may have restarted empty and
      // the peer not written again yet. The cache drops a peer 60 s after its
      // last heartbeat was first seen, so clocks of computers are never compared.
      // A run that must stop learns no more peers: it would send them its sessions.
      const discover = Effect.gen(function*() {
        if (!(yield* stillOurs)) return
        // This name is read whether or not Redis still lists it: a presence lost (FLUSHALL) is written again at once.
        const names = Arr.union(yield* redis.zrangeByScore(keys.computers, -Infinity, Infinity), [self])
        const values = yield* redis.mget(names.map(keys.computer))
        for (const [name, value] of Arr.zip(names, values)) {
          if (name === self) {
            yield* Option.match(value, { onNone: () => writePresence, onSome: meet })
            continue
          }
          if (Option.isNone(value)) {
            yield* redis.zrem(keys.computers, name)
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

      const announce = Effect.whenEffect(Effect.flatMap(cache.me, (computer) => broadcast({ _tag: "heartbeat", computer })), stillOurs)

      // This name's presence is read before it is written: another run's is met, never overwritten unseen.
      const claim = Effect.flatMap(redis.get(keys.computer(self)), Option.match({ onNone: () => Effect.void, onSome: meet }))
      const beat = status.report("write", claim.pipe(Effect.zipRight(writePresence), Effect.zipRight(discover)))
      const retried = Effect.retry(beat, reconnectSchedule)

      // The first beat runs before the layer is up, so a started daemon is
      // already known to Redis and knows its peers, or refuses to start as a
      // twin; if Redis is down the daemon starts anyway, serving its own
      // sessions, and keeps trying: the name is claimed once Redis answers.
      const first = yield* Effect.either(beat)
      if (yield* Deferred.isDone(lost)) return yield* Deferred.await(lost)
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
      return { beat, broadcast, nameLost: Deferred.await(lost) }
    })
  )
}
