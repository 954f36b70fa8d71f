/**
 * Session changes between daemons.
 *
 * Out: a change to one of this computer's own sessions is written to the
 * stream of every live peer whose heartbeat shows interest in `sessions`;
 * a peer that becomes interested first gets a snapshot of them all. Only the
 * owner of a session pushes it, so an event received from a peer is never
 * pushed on (no echo).
 *
 * In: this computer's own stream is read with a blocking XREAD on a
 * connection of its own, from the last id it applied, which is stored in
 * Redis: events sent while the daemon was away are replayed, never skipped.
 */
import { Context, Effect, Either, Layer, Option, Queue, Schedule } from "effect"
import { DaemonConfig } from "./DaemonConfig.js"
import { decodePeerEvent, encodePeerEvent, type PeerEvent } from "./PeerEvent.js"
import { RedisClient, type RedisError } from "./RedisClient.js"
import { redisKeys } from "./RedisKeys.js"
import { type CacheChange, SessionCache } from "./SessionCache.js"
import { Stats } from "./Stats.js"

/** How long one blocking read waits before it is issued again. */
const READ_BLOCK_MILLIS = 5_000

const retryPolicy = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

export class EventStream extends Context.Tag("termfleet/EventStream")<EventStream, {
  /** The id of the last event applied from this computer's stream. */
  readonly lastId: Effect.Effect<string>
}>() {
  static readonly layer = Layer.scoped(
    EventStream,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const cache = yield* SessionCache
      const redis = yield* RedisClient
      const stats = yield* Stats
      const keys = redisKeys(config.prefix)
      const self = config.computer

      const push = (peers: ReadonlyArray<string>, event: PeerEvent) =>
        Effect.forEach(
          peers,
          (peer) => redis.xadd(keys.events(peer), encodePeerEvent(self, event), config.limits.streamMaxLen),
          { discard: true }
        ).pipe(Effect.zipRight(stats.add("eventsOut", peers.length)))

      const interestedPeers = Effect.map(cache.computers, (computers) =>
        computers.filter((c) => c.name !== self && c.interestedIn.includes("sessions")).map((c) => c.name))

      // Subscribed here, in the layer's scope, before anything can publish.
      const changes = yield* cache.subscribe
      const served = new Set(yield* interestedPeers)

      const onChange = (change: CacheChange): Effect.Effect<void, RedisError> => {
        switch (change._tag) {
          case "SessionUpdated":
            return change.session.computer === self
              ? Effect.flatMap(interestedPeers, (peers) => push(peers, { _tag: "session_updated", session: change.session }))
              : Effect.void
          case "SessionRemoved":
            return change.ref.computer === self
              ? Effect.flatMap(interestedPeers, (peers) => push(peers, { _tag: "session_removed", ref: change.ref }))
              : Effect.void
          case "ComputerUpdated": {
            const peer = change.computer.name
            if (!change.computer.interestedIn.includes("sessions")) {
              served.delete(peer)
              return Effect.void
            }
            if (served.has(peer)) return Effect.void
            served.add(peer)
            return Effect.flatMap(cache.sessions(self), (sessions) =>
              push([peer], { _tag: "sessions_snapshot", computer: self, sessions }))
          }
          case "ComputerRemoved":
            served.delete(change.name)
            return Effect.void
          default:
            return Effect.void
        }
      }

      yield* Queue.take(changes).pipe(
        Effect.flatMap((change) =>
          Effect.catchAll(onChange(change), (error) => Effect.logWarning(`push failed: ${error.message}`))
        ),
        Effect.forever,
        Effect.forkScoped
      )

      const apply = (event: PeerEvent): Effect.Effect<void> => {
        switch (event._tag) {
          case "session_updated":
            return cache.upsertSession(event.session)
          case "session_removed":
            return cache.removeSession(event.ref)
          case "sessions_snapshot":
            return cache.replaceSessions(event.computer, event.sessions)
          case "heartbeat":
            return cache.upsertComputer(event.computer)
          case "goodbye":
            return cache.removeComputer(event.computer)
        }
      }

      const reader = yield* redis.reader
      let lastId = Option.getOrElse(yield* Effect.orElseSucceed(redis.get(keys.cursor(self)), Option.none), () => "0")

      const readOnce = Effect.gen(function*() {
        const entries = yield* reader.xread(keys.events(self), lastId, {
          blockMillis: READ_BLOCK_MILLIS,
          count: config.limits.readBatch
        })
        if (entries.length === 0) return
        for (const entry of entries) {
          const decoded = decodePeerEvent(entry)
          if (Either.isLeft(decoded) || decoded.right.from === self) {
            yield* stats.add("decodeFailures")
            if (Either.isLeft(decoded)) yield* Effect.logDebug(`skipped ${decoded.left}`)
          } else {
            yield* stats.add("eventsIn")
            yield* apply(decoded.right.event)
          }
        }
        lastId = entries[entries.length - 1]!.id
        yield* redis.set(keys.cursor(self), lastId)
      })

      yield* readOnce.pipe(
        Effect.tapError((error) => Effect.logDebug(`read failed: ${error.message}`)),
        Effect.retry(retryPolicy),
        Effect.forever,
        Effect.forkScoped
      )

      return { lastId: Effect.sync(() => lastId) }
    })
  )
}
