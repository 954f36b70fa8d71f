/**
 * The daemon's local view of the whole fleet. Every read a client makes is
 * served from here; every change is published on `changes`.
 *
 * Liveness is measured on Effect's `Clock`: a peer is live for 60 s after its
 * last heartbeat, projects and todos for 5 min after they were last read.
 * Nothing stale is ever served: reads filter, and a sweeper removes expired
 * peers (publishing `ComputerRemoved`) so pushed views drop them too.
 */
import { Clock, Context, Data, Effect, Layer, Option, Queue, Schedule, Schema, Scope, SubscriptionRef } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { AgentStatus, type Computer, type Project, type Session, type SessionRef, type Todo, type Topic, Ttl } from "../domain/Model.js"

export type CacheChange = Data.TaggedEnum<{
  SessionUpdated: { readonly session: Session }
  SessionRemoved: { readonly ref: SessionRef }
  ComputerUpdated: { readonly computer: Computer }
  /** `goodbye`: it said so as it stopped (and may be back soon, restarted); else its heartbeat expired. */
  ComputerRemoved: { readonly name: string; readonly goodbye: boolean }
  ProjectsUpdated: { readonly computer: string; readonly projects: ReadonlyArray<Project> }
  TodosUpdated: { readonly computer: string; readonly todos: ReadonlyArray<Todo> }
}>
export const CacheChange = Data.taggedEnum<CacheChange>()

/** Interest is kept sorted and de-duplicated so equal sets compare equal. */
export const normalizeTopics = (topics: Iterable<Topic>): ReadonlyArray<Topic> => [...new Set(topics)].sort()

export interface SessionCacheService {
  /** The computer this daemon runs on; it never expires. */
  readonly self: string
  readonly upsertSession: (session: Session) => Effect.Effect<void>
  readonly removeSession: (ref: SessionRef) => Effect.Effect<void>
  /**
   * The same two as plain synchronous calls, for a hot path that applies a
   * whole batch of changes inside one Effect (`EventStream`'s reader).
   */
  readonly unsafeUpsertSession: (session: Session) => void
  readonly unsafeRemoveSession: (ref: SessionRef) => void
  /** Makes `sessions` the whole truth for `computer`: adds, updates and removes. */
  readonly replaceSessions: (computer: string, sessions: ReadonlyArray<Session>) => Effect.Effect<void>
  readonly sessions: (computer?: string) => Effect.Effect<ReadonlyArray<Session>>
  readonly session: (ref: SessionRef) => Effect.Effect<Option.Option<Session>>
  /** Records a peer's heartbeat; this computer's own entry is derived, not stored. */
  readonly upsertComputer: (computer: Computer) => Effect.Effect<void>
  /** `name` said goodbye: removed, and that run of it is never taken back (a presence read late would revive it). */
  readonly removeComputer: (name: string) => Effect.Effect<void>
  readonly computers: Effect.Effect<ReadonlyArray<Computer>>
  readonly computer: (name: string) => Effect.Effect<Option.Option<Computer>>
  /** This computer as peers see it: always live, interest as of now. */
  readonly me: Effect.Effect<Computer>
  readonly setProjects: (computer: string, projects: ReadonlyArray<Project>) => Effect.Effect<void>
  readonly setTodos: (computer: string, todos: ReadonlyArray<Todo>) => Effect.Effect<void>
  readonly projects: Effect.Effect<ReadonlyArray<Project>>
  readonly todos: Effect.Effect<ReadonlyArray<Todo>>
  readonly subscribe: Effect.Effect<Queue.Dequeue<CacheChange>, never, Scope.Scope>
  /**
   * Only the changes `wanted` (called as each is published): a subscriber
   * that needs a few kinds of change is not woken for every other one (a
   * receiving daemon's session changes are nearly all of its traffic).
   */
  readonly subscribeTo: (wanted: (change: CacheChange) => boolean) => Effect.Effect<Queue.Dequeue<CacheChange>, never, Scope.Scope>
  /**
   * Calls `listener` with each change as it is published, synchronously and
   * in order, for as long as the scope lasts: for a subscriber whose work per
   * change is plain synchronous code (the WebSocket hub's fan-out), which then
   * costs no queue and no fiber woken per change. It must not throw.
   */
  readonly listen: (listener: (change: CacheChange) => void) => Effect.Effect<void, never, Scope.Scope>
  /**
   * Runs `f` on the contents as of one instant, synchronously: no change is
   * published while it runs, so a listener can read a state and join the
   * changes that follow it in one step.
   */
  readonly atomically: <A>(f: (view: CacheView) => A) => Effect.Effect<A>
  /** How many changes were published so far: while it stays the same, so do the contents (liveness aside, which moves with the clock). */
  readonly revision: Effect.Effect<number>
  /** Topics at least one local client is subscribed to. */
  readonly interest: SubscriptionRef.SubscriptionRef<ReadonlyArray<Topic>>
  /** Sessions of other computers whose live terminal a local viewer watches (in this computer's heartbeat). */
  readonly watching: SubscriptionRef.SubscriptionRef<ReadonlyArray<SessionRef>>
}

/** The cache's contents at one instant (`atomically`); the lists are built only when asked for. */
export interface CacheView {
  /** As `revision`. */
  readonly revision: number
  /** Live computers, this one first. */
  readonly computers: () => ReadonlyArray<Computer>
  /** Sessions of live computers. */
  readonly sessions: () => ReadonlyArray<Session>
  readonly projects: () => ReadonlyArray<Project>
  readonly todos: () => ReadonlyArray<Todo>
}

interface Stamped<A> {
  readonly value: A
  readonly at: number
}

const sameAgent = Schema.equivalence(AgentStatus)

const sameSession = (a: Session, b: Session) =>
  a.title === b.title && a.status === b.status && a.lastActivity === b.lastActivity &&
  a.lastOutput === b.lastOutput && a.lastInput === b.lastInput && a.projectPath === b.projectPath &&
  a.command === b.command && a.createdAt === b.createdAt &&
  (a.agent === b.agent || (a.agent !== undefined && b.agent !== undefined && sameAgent(a.agent, b.agent)))

const sameComputer = (a: Computer, b: Computer) =>
  a.lastSeen === b.lastSeen && a.startedAt === b.startedAt && a.version === b.version &&
  a.interestedIn.join() === b.interestedIn.join() && refsKey(a.terminals) === refsKey(b.terminals)

const sessionKey = (ref: SessionRef) => `${ref.computer}\u0000${ref.sessionId}`
const refsKey = (refs: ReadonlyArray<SessionRef> | undefined) => (refs ?? []).map(sessionKey).join("\n")

export const makeSessionCache = (
  self: string,
  version: string
): Effect.Effect<SessionCacheService, never, Scope.Scope> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    // Each subscriber's unbounded queue, offered to synchronously, and only the changes it wants.
    const subscribers = new Set<{ readonly wanted: (change: CacheChange) => boolean; readonly queue: Queue.Queue<CacheChange> }>()
    const listeners = new Set<(change: CacheChange) => void>()
    const interest = yield* SubscriptionRef.make<ReadonlyArray<Topic>>([])
    const watching = yield* SubscriptionRef.make<ReadonlyArray<SessionRef>>([])
    const sessionsByKey = new Map<string, Session>()
    const computersByName = new Map<string, Stamped<Computer>>()
    const projectsByComputer = new Map<string, Stamped<ReadonlyArray<Project>>>()
    const todosByComputer = new Map<string, Stamped<ReadonlyArray<Todo>>>()

    let revision = 0
    const unsafePublish = (change: CacheChange) => {
      revision++
      for (const listener of listeners) listener(change)
      for (const subscriber of subscribers) if (subscriber.wanted(change)) subscriber.queue.unsafeOffer(change)
    }
    const subscribeTo = (wanted: (change: CacheChange) => boolean) =>
      Effect.map(
        Effect.acquireRelease(
          Effect.map(Queue.unbounded<CacheChange>(), (queue) => {
            const subscriber = { wanted, queue }
            subscribers.add(subscriber)
            return subscriber
          }),
          (subscriber) => Effect.suspend(() => {
            subscribers.delete(subscriber)
            return Queue.shutdown(subscriber.queue)
          })
        ),
        (subscriber): Queue.Dequeue<CacheChange> => subscriber.queue
      )
    const listen = (listener: (change: CacheChange) => void) =>
      Effect.acquireRelease(Effect.sync(() => void listeners.add(listener)), () => Effect.sync(() => void listeners.delete(listener)))
    const publish = (change: CacheChange) => Effect.sync(() => unsafePublish(change))
    /** This computer as peers see it: always live, interest as of now. */
    const selfComputer = (now: number) =>
      Effect.map(Effect.all([SubscriptionRef.get(interest), SubscriptionRef.get(watching)]), ([interestedIn, terminals]): Computer => ({
        name: self,
        version,
        startedAt,
        lastSeen: now,
        interestedIn,
        ...(terminals.length > 0 ? { terminals } : {})
      }))
    const isLive = (name: string, now: number) => {
      if (name === self) return true
      const entry = computersByName.get(name)
      return entry !== undefined && now - entry.at <= Ttl.computerMillis
    }
    const freshAt = <A>(map: Map<string, Stamped<ReadonlyArray<A>>>, now: number) =>
      [...map.entries()].flatMap(([computer, entry]) => now - entry.at <= Ttl.projectMillis && isLive(computer, now) ? entry.value : [])
    const fresh = <A>(map: Map<string, Stamped<ReadonlyArray<A>>>) => Effect.map(Clock.currentTimeMillis, (now) => freshAt(map, now))
    const liveSessions = (now: number, computer?: string) =>
      [...sessionsByKey.values()].filter((s) => (computer === undefined || s.computer === computer) && isLive(s.computer, now))
    const liveComputers = (me: Computer, now: number) => [
      me,
      ...[...computersByName.values()].filter((c) => isLive(c.value.name, now)).map((c) => c.value)
    ]

    const unsafeUpsertSession = (session: Session) => {
      const key = sessionKey(session)
      const previous = sessionsByKey.get(key)
      if (previous !== undefined && sameSession(previous, session)) return
      sessionsByKey.set(key, session)
      const owner = session.computer
      if (owner !== self && !computersByName.has(owner) && !unknownSince.has(owner)) unknownSince.set(owner, null)
      unsafePublish(CacheChange.SessionUpdated({ session }))
    }
    const upsertSession = (session: Session) => Effect.sync(() => unsafeUpsertSession(session))

    const unsafeRemoveSession = (ref: SessionRef) => {
      if (sessionsByKey.delete(sessionKey(ref))) {
        unsafePublish(CacheChange.SessionRemoved({ ref: { sessionId: ref.sessionId, computer: ref.computer } }))
      }
    }
    const removeSession = (ref: SessionRef) => Effect.sync(() => unsafeRemoveSession(ref))

    const sessionsOf = (computer: string) => [...sessionsByKey.values()].filter((s) => s.computer === computer)

    const replaceSessions = (computer: string, sessions: ReadonlyArray<Session>) =>
      Effect.gen(function*() {
        const keep = new Set(sessions.map(sessionKey))
        for (const stale of sessionsOf(computer)) {
          if (!keep.has(sessionKey(stale))) yield* removeSession(stale)
        }
        for (const session of sessions) yield* upsertSession(session)
      })

    // The run (`startedAt`) each computer said goodbye from; one entry per computer name.
    const departed = new Map<string, number>()
    const farewell = (name: string) =>
      Effect.suspend(() => {
        const entry = computersByName.get(name)
        if (entry !== undefined) departed.set(name, entry.value.startedAt)
        return removeComputer(name, true)
      })

    const removeComputer = (name: string, goodbye: boolean) =>
      Effect.gen(function*() {
        if (name === self || !computersByName.delete(name)) return
        projectsByComputer.delete(name)
        todosByComputer.delete(name)
        for (const session of sessionsOf(name)) sessionsByKey.delete(sessionKey(session))
        yield* publish(CacheChange.ComputerRemoved({ name, goodbye }))
      })

    // Sessions of a computer this cache does not know (sent after its
    // goodbye, or replayed for one that never came back) are never served,
    // and are forgotten once it has stayed unknown for a whole TTL. Such
    // owners are noted as their sessions arrive, so the sweep looks at them
    // alone, not at every session: since when each was first swept unknown.
    const unknownSince = new Map<string, number | null>()
    const forgetUnknown = (now: number) => {
      for (const [owner, since] of [...unknownSince]) {
        if (computersByName.has(owner)) unknownSince.delete(owner)
        else if (since === null) unknownSince.set(owner, now)
        else if (now - since > Ttl.computerMillis) {
          for (const session of sessionsOf(owner)) sessionsByKey.delete(sessionKey(session))
          unknownSince.delete(owner)
        }
      }
    }

    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const name of [...computersByName.keys()]) {
        if (!isLive(name, now)) yield* removeComputer(name, false)
      }
      forgetUnknown(now)
      for (const map of [projectsByComputer, todosByComputer]) {
        for (const [computer, entry] of [...map.entries()]) {
          if (now - entry.at > Ttl.projectMillis) map.delete(computer)
        }
      }
    })
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced("1 second")))

    const service: SessionCacheService = {
      self,
      upsertSession,
      removeSession,
      unsafeUpsertSession,
      unsafeRemoveSession,
      replaceSessions,
      sessions: (computer) => Effect.map(Clock.currentTimeMillis, (now) => liveSessions(now, computer)),
      session: (ref) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          Option.filter(Option.fromNullable(sessionsByKey.get(sessionKey(ref))), (s) => isLive(s.computer, now))),
      upsertComputer: (computer) =>
        computer.name === self || departed.get(computer.name) === computer.startedAt ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const entry = computersByName.get(computer.name)
          const previous = entry?.value
          // Its age counts from when this heartbeat was first seen, not from
          // each later read of the same one.
          const at = previous !== undefined && previous.lastSeen === computer.lastSeen ? entry!.at : now
          computersByName.set(computer.name, { value: computer, at })
          // Discovery re-reads every peer every few seconds; only news is published.
          return previous !== undefined && sameComputer(previous, computer)
            ? Effect.void
            : publish(CacheChange.ComputerUpdated({ computer }))
        }),
      removeComputer: farewell,
      me: Effect.flatMap(Clock.currentTimeMillis, selfComputer),
      computers: Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.map(selfComputer(now), (me) => liveComputers(me, now))),
      computer: (name) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          name === self
            ? Effect.map(selfComputer(now), Option.some)
            : Effect.succeed(Option.fromNullable(isLive(name, now) ? computersByName.get(name)?.value : undefined))),
      setProjects: (computer, projects) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          projectsByComputer.set(computer, { value: projects, at: now })
          return publish(CacheChange.ProjectsUpdated({ computer, projects }))
        }),
      setTodos: (computer, todos) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          todosByComputer.set(computer, { value: todos, at: now })
          return publish(CacheChange.TodosUpdated({ computer, todos }))
        }),
      projects: fresh(projectsByComputer),
      todos: fresh(todosByComputer),
      subscribe: subscribeTo(() => true),
      subscribeTo,
      listen,
      // Only `me` is read through Effects, before: this computer's interest and watched terminals are no cache change.
      atomically: (f) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.flatMap(selfComputer(now), (me) =>
            Effect.sync(() =>
              f({
                revision,
                computers: () => liveComputers(me, now),
                sessions: () => liveSessions(now),
                projects: () => freshAt(projectsByComputer, now),
                todos: () => freshAt(todosByComputer, now)
              })
            ))),
      revision: Effect.sync(() => revision),
      interest,
      watching
    }
    return service
  })

export class SessionCache extends Context.Tag("termfleet/SessionCache")<SessionCache, SessionCacheService>() {
  static readonly layer = Layer.scoped(
    SessionCache,
    Effect.flatMap(DaemonConfig, (config) => makeSessionCache(config.computer, config.version))
  )
}
