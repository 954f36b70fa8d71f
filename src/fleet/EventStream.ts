/**
 * Session changes between daemons.
 *
 * Out: a change to one of this computer's own sessions (or projects, todos)
 * is written to the stream of every live peer whose heartbeat shows interest
 * in `sessions` (`preparation`); a peer that becomes interested first gets a
 * snapshot of them all, in the same stream, so it comes before the events
 * that follow. Only the owner pushes what it owns, so an event received from
 * a peer is never pushed on (no echo).
 *
 * In: this computer's own stream is read with a blocking XREAD on a
 * connection of its own, from the last id it applied, which is stored in
 * Redis: events sent while the daemon was away are replayed, never skipped.
 * Entries are numbered per stream by their sender; where numbers are missing
 * (the stream was trimmed before they were read, or Redis lost them), the
 * sender is asked for a fresh snapshot.
 */
import { Clock, Context, Effect, Either, FiberSet, Layer, Option, Schedule } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
import { RedisClient } from "./RedisClient.js"
import { redisKeys } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { Seal } from "./Seal.js"
import { Retention } from "./RedisKeys.js"
import { type Computer, type Topic, Ttl } from "../domain/Model.js"
import { decodePeerEvent, encodePeerEvent, type PeerEvent } from "./PeerEvent.js"
import { CacheChange } from "../cache/SessionCache.js"
import type { StreamEntry, XAddEntry } from "./RedisClient.js"
import { consumeStream, reconnectSchedule, retryingOnFailure } from "./StreamConsumer.js"
import { surviving } from "../runtime/Survive.js"

/** How long a push is retried while Redis is unreachable. */
const PUSH_GIVE_UP = "60 seconds"
/** How far Redis's clock and this daemon's may differ before a replayed heartbeat is taken as stale. */
const STALE_HEARTBEAT_SKEW_MILLIS = 30_000
/** How long an unanswered ask for a snapshot holds back the next one. */
const ASK_AGAIN_MILLIS = 5_000
/** How often the expiry of a peer's stream is pushed back while it is written to (it is days long). */
const EXPIRY_REFRESH_MILLIS = 60_000

const topics: ReadonlyArray<Topic> = ["sessions", "preparation"]

const pushSchedule = reconnectSchedule.pipe(Schedule.upTo(PUSH_GIVE_UP))

export class EventStream extends Context.Tag("termfleet/EventStream")<EventStream, {
  /** Seals `event` and writes it into the stream of each of `peers`. */
  readonly push: (peers: ReadonlyArray<string>, event: PeerEvent) => Effect.Effect<void>
  /** Sends `peer` everything it is interested in again, as if it had just become interested. */
  readonly resend: (peer: string) => Effect.Effect<void>
}>() {
  static readonly layer = Layer.scoped(
    EventStream,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const self = config.computer
      const keys = redisKeys(config.prefix)
      const [cache, redis, seal, stats, status] = yield* Effect.all([SessionCache, RedisClient, Seal, Stats, RedisStatus])

      /** One event, already serialised (once, whatever the number of peers), for one peer. */
      type Outgoing = readonly [peer: string, body: string]

      // When each peer stream's expiry was last pushed back (with a write). Bounded by the fleet.
      const expirySetAt = new Map<string, number>()

      // While Redis is away a batch is retried whole, holding back later
      // changes, so peers miss nothing and nothing is reordered. Past PUSH_GIVE_UP the batch is dropped and its peers are
      // forgotten as served: their next heartbeat brings them a snapshot.
      const forget = (peer: string) => topics.forEach((topic) => served[topic].delete(peer))
      // Once the goodbye is written nothing follows it: a peer takes this computer's last word for its state
      // (a snapshot written after it, asked for or planned while it went out, would bring the computer back).
      let saidGoodbye = false
      const send = (outgoing: ReadonlyArray<Outgoing>) =>
        outgoing.length === 0 || saidGoodbye ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          // Plain synchronous code for the whole batch. Sealed once: a retry writes the same entries, not newly
          // numbered ones (which peers would take for lost entries). One written twice is refused as a replay.
          const entries: Array<XAddEntry> = []
          for (const [peer, body] of outgoing) {
            const key = keys.events(peer)
            const fields = seal.unsafeSealNext(key, body)
            const setAt = expirySetAt.get(key)
            if (setAt !== undefined && now - setAt < EXPIRY_REFRESH_MILLIS) {
              entries.push({ key, fields, maxLen: config.limits.streamMaxLen })
            } else {
              expirySetAt.set(key, now)
              entries.push({ key, fields, maxLen: config.limits.streamMaxLen, ttlMillis: Retention.eventsMillis })
            }
          }
          return retryingOnFailure(status.report("write", redis.xaddBatch(entries)), pushSchedule).pipe(
            Effect.zipRight(stats.add("eventsOut", outgoing.length)),
            Effect.catchAll((error) =>
              Effect.sync(() =>
                outgoing.forEach(([peer]) => {
                  forget(peer)
                  expirySetAt.delete(keys.events(peer))
                })
              ).pipe(Effect.zipRight(Effect.logWarning(`gave up pushing to peers: ${error.message}`))))
          )
        })
      const toEach = (peers: ReadonlyArray<string>, event: PeerEvent): ReadonlyArray<Outgoing> => {
        const body = encodePeerEvent(event)
        return peers.map((peer) => [peer, body] as const)
      }
      // One writer at a time: entries are numbered in the order they are
      // written, and a snapshot is read and written before later events.
      const writing = yield* Effect.makeSemaphore(1)
      const push = (peers: ReadonlyArray<string>, event: PeerEvent) =>
        writing.withPermits(1)(Effect.ensuring(send(toEach(peers, event)), Effect.sync(() => (saidGoodbye ||= event._tag === "goodbye"))))

      const interestedIn = (topic: Topic) =>
        Effect.map(cache.computers, (computers) => peersInterested(computers, topic))
      const peersInterested = (computers: ReadonlyArray<Computer>, topic: Topic) =>
        computers.filter((c) => c.name !== self && c.interestedIn.includes(topic)).map((c) => c.name)

      /** Everything of this computer a peer newly interested in `topic` needs. */
      const snapshot = (topic: Topic): Effect.Effect<ReadonlyArray<PeerEvent>> =>
        topic === "sessions"
          ? Effect.map(cache.sessions(self), (sessions) => [{ _tag: "sessions_snapshot", computer: self, sessions }])
          : Effect.map(Effect.all([cache.projects, cache.todos]), ([projects, todos]) => [
            { _tag: "projects_updated", computer: self, projects: projects.filter((p) => p.computer === self) },
            { _tag: "todos_updated", computer: self, todos: todos.filter((t) => t.computer === self) }
          ])

      /** Whether a change is of this computer's own sessions, projects or todos (what peers may get). */
      const isOwn = (change: CacheChange): boolean => {
        switch (change._tag) {
          case "SessionUpdated":
            return change.session.computer === self
          case "SessionRemoved":
            return change.ref.computer === self
          case "ProjectsUpdated":
          case "TodosUpdated":
            return change.computer === self
          default:
            return false
        }
      }

      /** What peers interested in its topic get of an own change. */
      const ownEvent = (change: CacheChange): readonly [Topic, PeerEvent] | undefined => {
        if (!isOwn(change)) return undefined
        switch (change._tag) {
          case "SessionUpdated":
            return ["sessions", { _tag: "session_updated", session: change.session }]
          case "SessionRemoved":
            return ["sessions", { _tag: "session_removed", ref: change.ref }]
          case "ProjectsUpdated":
            return ["preparation", { _tag: "projects_updated", computer: self, projects: change.projects }]
          case "TodosUpdated":
            return ["preparation", { _tag: "todos_updated", computer: self, todos: change.todos }]
          default:
            return undefined
        }
      }

      // Changes to push, in order: listened to from here, in the layer's scope,
      // before anything can publish; written once the writer below is set up.
      // What a receiving daemon mostly sees, peers' changes (which it never
      // pushes on), is dropped at the door.
      const pending: Array<CacheChange> = []
      // Whether a fiber is writing `pending` out (true until the writer is set up).
      let draining = true
      const run = yield* FiberSet.makeRuntime<never>()
      yield* cache.listen((change) => {
        if (change._tag !== "ComputerUpdated" && change._tag !== "ComputerRemoved" && !isOwn(change)) return
        pending.push(change)
        if (draining) return
        draining = true
        run(drain)
      })
      const served: Record<Topic, Set<string>> = {
        sessions: new Set(yield* interestedIn("sessions")),
        preparation: new Set(yield* interestedIn("preparation"))
      }

      // Each peer's run (its `startedAt`) as last seen, and the runs of peers this daemon dropped.
      // A peer dropped while it was only stalled (its heartbeats late past their TTL) comes back
      // as the same run, sure it has served this daemon already: it is asked for a snapshot, or
      // its sessions would stay missing here. A new run of a peer has served no one yet.
      const runs = new Map<string, number>()
      const droppedRuns = new Map<string, number>()
      const dropped = (peer: string) => {
        const run = runs.get(peer)
        if (run !== undefined) droppedRuns.set(peer, run)
        runs.delete(peer)
        forget(peer)
      }
      /** Notes `computer`'s run; answers whether it is one this daemon dropped, back. */
      const rejoined = (computer: Computer): boolean => {
        const peer = computer.name
        const previous = runs.get(peer)
        runs.set(peer, computer.startedAt)
        if (previous !== undefined && previous !== computer.startedAt) forget(peer)
        const wasDropped = droppedRuns.get(peer)
        droppedRuns.delete(peer)
        return wasDropped === computer.startedAt
      }

      /**
       * What a peer's new or changed heartbeat means: a snapshot of each topic
       * it newly wants (and an ask for its own, if it is a run this daemon
       * dropped, back); updates who is served.
       */
      const planForPeer = (computer: Computer): Effect.Effect<ReadonlyArray<Outgoing>> => {
        const peer = computer.name
        const ask = rejoined(computer) ? toEach([peer], { _tag: "snapshot_wanted", computer: self }) : []
        return Effect.map(
          Effect.forEach(topics, (topic) => {
            if (!computer.interestedIn.includes(topic)) {
              served[topic].delete(peer)
              return Effect.succeed([])
            }
            if (served[topic].has(peer)) return Effect.succeed([])
            served[topic].add(peer)
            return Effect.map(snapshot(topic), (events) => events.flatMap((event) => toEach([peer], event)))
          }),
          (planned) => [...ask, ...planned.flat()]
        )
      }

      // Who is interested in each topic, looked up again only after a peer's
      // heartbeat or departure: every change of interest or liveness comes as
      // one (a peer that expires is removed by the cache's sweep).
      let interested: Record<Topic, ReadonlyArray<string>> | undefined

      /**
       * What a batch of changes means for peers, in order. Per change, plain
       * synchronous code; an event nobody wants is not even serialised.
       */
      const planBatch = (batch: Iterable<CacheChange>) =>
        Effect.gen(function*() {
          const out: Array<Outgoing> = []
          for (const change of batch) {
            if (change._tag === "ComputerUpdated" || change._tag === "ComputerRemoved") {
              if (change._tag === "ComputerUpdated") out.push(...yield* planForPeer(change.computer))
              else dropped(change.name)
              interested = undefined
              continue
            }
            const own = ownEvent(change)
            if (own === undefined) continue
            if (interested === undefined) {
              const computers = yield* cache.computers
              interested = { sessions: peersInterested(computers, "sessions"), preparation: peersInterested(computers, "preparation") }
            }
            const peers = interested[own[0]]
            if (peers.length === 0) continue
            const body = encodePeerEvent(own[1])
            for (const peer of peers) out.push([peer, body])
          }
          return out
        })

      // A change to push starts the writer at once, inside the call that
      // published it (no queue, no fiber woken later); changes that pile up
      // while a batch is being written go out together, in one pipeline.
      const drain: Effect.Effect<void> = Effect.suspend(() => {
        if (pending.length === 0) {
          draining = false
          return Effect.void
        }
        const batch = pending.splice(0, config.limits.readBatch)
        return Effect.zipRight(
          surviving("pushing to peers", writing.withPermits(1)(Effect.flatMap(planBatch(batch), send))),
          drain
        )
      })
      run(drain)

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
          case "projects_updated":
            return cache.setProjects(event.computer, event.projects)
          case "todos_updated":
            return cache.setTodos(event.computer, event.todos)
          case "snapshot_wanted":
            return resend(event.computer)
        }
      }

      /** A peer missed entries: everything it is interested in again, as if it had just become interested. */
      const resend = (peer: string) =>
        writing.withPermits(1)(Effect.flatMap(cache.computer(peer), (computer) => {
          forget(peer)
          return Option.isNone(computer)
            ? Effect.void
            : Effect.flatMap(planForPeer(computer.value), send)
        }))

      // A peer is asked once until its snapshot comes: a reader that lags
      // keeps finding gaps, and each snapshot would make it lag more. Entries
      // lost before the snapshot was written are covered by it; a gap seen
      // after it is asked for again. An ask or answer itself lost is asked
      // again after ASK_AGAIN.
      const asked = new Map<string, number>()
      const answered = (event: PeerEvent, from: string) => {
        if (event._tag === "sessions_snapshot" || event._tag === "projects_updated" || event._tag === "todos_updated") {
          asked.delete(from)
        }
      }
      const askForSnapshot = (peer: string) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const last = asked.get(peer)
          if (last !== undefined && now - last < ASK_AGAIN_MILLIS) return Effect.void
          asked.set(peer, now)
          return Effect.zipRight(
            Effect.logInfo(`entries from ${peer} were lost; asking it for a snapshot`),
            push([peer], { _tag: "snapshot_wanted", computer: self })
          )
        })

      // A heartbeat read long after it was written (this daemon was away, and
      // replays its stream) says nothing about whether its sender is still
      // there: applying it would show a computer that may be long gone as
      // live for a whole TTL. Its age is the entry id's time (Redis's clock)
      // against this daemon's, with room for the two clocks to differ.
      const stale = (entry: StreamEntry) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          now - Number(entry.id.split("-")[0]) > Ttl.computerMillis + STALE_HEARTBEAT_SKEW_MILLIS)

      /**
       * One batch read from this computer's stream, oldest first: every entry
       * is verified (seal, replay window) and decoded, as plain synchronous
       * code; session changes, nearly all of the traffic, are applied to the
       * cache synchronously too, the rare others through their Effects.
       */
      const receive = (entries: ReadonlyArray<StreamEntry>) =>
        Effect.gen(function*() {
          const where = keys.events(self)
          let applied = 0
          let refused = 0
          for (const entry of entries) {
            const opened = Either.flatMap(
              seal.unsafeOpen(where, entry.fields),
              (o) => Either.map(decodePeerEvent(o), (event) => ({ event, from: o.from, gap: o.gap }))
            )
            if (Either.isLeft(opened)) {
              refused++
              yield* Effect.logDebug(`skipped ${entry.id}: ${opened.left}`)
              continue
            }
            const { event, from, gap } = opened.right
            applied++
            answered(event, from)
            if (event._tag === "session_updated") cache.unsafeUpsertSession(event.session)
            else if (event._tag === "session_removed") cache.unsafeRemoveSession(event.ref)
            else if (event._tag !== "heartbeat" || !(yield* stale(entry))) yield* apply(event)
            if (gap) yield* askForSnapshot(from)
          }
          if (applied > 0) yield* stats.add("eventsIn", applied)
          if (refused > 0) yield* stats.add("decodeFailures", refused)
        })

      yield* consumeStream({
        stream: keys.events(self),
        resume: { key: keys.cursor(self), ttlMillis: Retention.eventsMillis },
        count: config.limits.readBatch,
        handle: receive
      })

      return { push, resend }
    })
  )
}
