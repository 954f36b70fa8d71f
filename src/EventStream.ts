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
 */
import { Context, Effect, Either, Layer, type Option, Queue, Schedule } from "effect"
import { fleetServices } from "./Fleet.js"
import type { Topic } from "./Domain.js"
import { decodePeerEvent, encodePeerEvent, type PeerEvent } from "./PeerEvent.js"
import type { CacheChange } from "./SessionCache.js"
import { consumeStream, reconnectSchedule } from "./StreamConsumer.js"

/** How long a push is retried while Redis is unreachable. */
const PUSH_GIVE_UP = "60 seconds"

const topics: ReadonlyArray<Topic> = ["sessions", "preparation"]

export class EventStream extends Context.Tag("termfleet/EventStream")<EventStream, {
  /** The id of the last event applied from this computer's stream, once known. */
  readonly lastId: Effect.Effect<Option.Option<string>>
  /** Seals `event` and writes it into the stream of each of `peers`. */
  readonly push: (peers: ReadonlyArray<string>, event: PeerEvent) => Effect.Effect<void>
}>() {
  static readonly layer = Layer.scoped(
    EventStream,
    Effect.gen(function*() {
      const { cache, config, keys, redis, seal, self, stats } = yield* fleetServices

      // While Redis is away pushes are retried in order, holding back later
      // changes, so peers miss nothing. Past PUSH_GIVE_UP the event is dropped
      // and the peer forgotten as served: its next heartbeat brings a snapshot.
      const forget = (peer: string) => topics.forEach((topic) => served[topic].delete(peer))
      const push = (peers: ReadonlyArray<string>, event: PeerEvent) =>
        Effect.forEach(peers, (peer) =>
          seal.seal(keys.events(peer), encodePeerEvent(event)).pipe(
            Effect.flatMap((fields) => redis.xadd(keys.events(peer), fields, config.limits.streamMaxLen)),
            Effect.retry(reconnectSchedule.pipe(Schedule.upTo(PUSH_GIVE_UP))),
            Effect.zipRight(stats.add("eventsOut")),
            Effect.catchAll((error) =>
              Effect.sync(() => forget(peer)).pipe(
                Effect.zipRight(Effect.logWarning(`gave up pushing to ${peer}: ${error.message}`))
              ))
          ), { discard: true })

      const interestedIn = (topic: Topic) =>
        Effect.map(cache.computers, (computers) =>
          computers.filter((c) => c.name !== self && c.interestedIn.includes(topic)).map((c) => c.name))
      const pushTopic = (topic: Topic, event: PeerEvent) => Effect.flatMap(interestedIn(topic), (peers) => push(peers, event))

      /** Everything of this computer a peer newly interested in `topic` needs. */
      const snapshot = (topic: Topic): Effect.Effect<ReadonlyArray<PeerEvent>> =>
        topic === "sessions"
          ? Effect.map(cache.sessions(self), (sessions) => [{ _tag: "sessions_snapshot", computer: self, sessions }])
          : Effect.map(Effect.all([cache.projects, cache.todos]), ([projects, todos]) => [
            { _tag: "projects_updated", computer: self, projects: projects.filter((p) => p.computer === self) },
            { _tag: "todos_updated", computer: self, todos: todos.filter((t) => t.computer === self) }
          ])

      // Subscribed here, in the layer's scope, before anything can publish.
      const changes = yield* cache.subscribe
      const served: Record<Topic, Set<string>> = {
        sessions: new Set(yield* interestedIn("sessions")),
        preparation: new Set(yield* interestedIn("preparation"))
      }

      const onChange = (change: CacheChange): Effect.Effect<void> => {
        switch (change._tag) {
          case "SessionUpdated":
            return change.session.computer === self
              ? pushTopic("sessions", { _tag: "session_updated", session: change.session })
              : Effect.void
          case "SessionRemoved":
            return change.ref.computer === self ? pushTopic("sessions", { _tag: "session_removed", ref: change.ref }) : Effect.void
          case "ProjectsUpdated":
            return change.computer === self
              ? pushTopic("preparation", { _tag: "projects_updated", computer: self, projects: change.projects })
              : Effect.void
          case "TodosUpdated":
            return change.computer === self
              ? pushTopic("preparation", { _tag: "todos_updated", computer: self, todos: change.todos })
              : Effect.void
          case "ComputerUpdated":
            return Effect.forEach(topics, (topic) => {
              const peer = change.computer.name
              if (!change.computer.interestedIn.includes(topic)) {
                served[topic].delete(peer)
                return Effect.void
              }
              if (served[topic].has(peer)) return Effect.void
              served[topic].add(peer)
              return Effect.flatMap(snapshot(topic), (events) => Effect.forEach(events, (event) => push([peer], event)))
            }, { discard: true })
          case "ComputerRemoved":
            return Effect.sync(() => forget(change.name))
        }
      }

      yield* Queue.take(changes).pipe(Effect.flatMap(onChange), Effect.forever, Effect.forkScoped)

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
        }
      }

      const lastId = yield* consumeStream({
        stream: keys.events(self),
        cursorKey: keys.cursor(self),
        count: config.limits.readBatch,
        handle: (entries) =>
          Effect.forEach(entries, (entry) =>
            Effect.flatMap(seal.open(keys.events(self), entry.fields), (opened) =>
              Either.match(Either.flatMap(opened, decodePeerEvent), {
                onLeft: (reason) =>
                  Effect.zipRight(stats.add("decodeFailures"), Effect.logDebug(`skipped ${entry.id}: ${reason}`)),
                onRight: (event) => Effect.zipRight(stats.add("eventsIn"), apply(event))
              })), { discard: true })
      })

      return { lastId, push }
    })
  )
}
