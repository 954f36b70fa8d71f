/**
 * The WebSocket clients of this daemon. Each client has its own bounded
 * outbox drained by one writer, so its frames go out in order and a slow
 * client never holds up the others: when its outbox overflows it alone is
 * closed (1013). Cache changes are serialised once per event and offered to
 * the clients subscribed to the event's topic.
 *
 * Interest (the union of all clients' topics) is recomputed on every
 * connect, subscribe, unsubscribe and disconnect.
 */
import * as Socket from "@effect/platform/Socket"
import { Context, Deferred, Effect, Either, Layer, Option, Queue, Stream, SubscriptionRef } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import type { Topic } from "../domain/Model.js"
import {
  type ChangeEvent,
  type ClientMessage,
  decodeClientMessage,
  encodeServerEvent,
  encodeSessions,
  encodeSessionsInitial,
  errorEvent
} from "../domain/Protocol.js"
import { Projects } from "../local/Projects.js"
import { type CacheChange, normalizeTopics, SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
import { surviving } from "../runtime/Survive.js"
import { type ClientTerminals, TerminalViewing } from "../terminal/TerminalViewing.js"

/** The topic a cache change belongs to, and the event (numbered `seq`) clients of that topic get. */
const eventOfChange = (change: CacheChange, seq: number): readonly [Topic, ChangeEvent] => {
  switch (change._tag) {
    case "SessionUpdated":
      return ["sessions", { event: "session_updated", data: change.session, seq }]
    case "SessionRemoved":
      return ["sessions", { event: "session_removed", data: change.ref, seq }]
    case "ComputerUpdated":
      return ["sessions", { event: "computer_updated", data: change.computer, seq }]
    case "ComputerRemoved":
      return ["sessions", { event: "computer_removed", data: { name: change.name }, seq }]
    case "ProjectsUpdated":
      return ["preparation", { event: "projects_updated", data: { computer: change.computer, projects: change.projects }, seq }]
    case "TodosUpdated":
      return ["preparation", { event: "todos_updated", data: { computer: change.computer, todos: change.todos }, seq }]
  }
}

/** WebSocket close codes used here (RFC 6455 §7.4.1). */
export const CloseCode = {
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  tryAgainLater: 1013
} as const

/** What is used of the underlying `ws` socket. */
interface RawSocket {
  /** What the client has not read yet: writes do not wait for the network. */
  readonly bufferedAmount: number
  readonly send: (frame: string) => void
}

interface Client {
  readonly topics: Set<Topic>
  /** The underlying `ws` socket, known from the client's first frame (only message handlers see it). */
  raw: RawSocket | undefined
  /** Queues a frame; a full outbox closes the client instead. */
  readonly send: (frame: string) => Effect.Effect<void>
  /** The same, from plain code (terminal output is sent from the tmux reader). */
  readonly sendNow: (frame: string) => void
  /** Its live terminals. */
  terminals: ClientTerminals | undefined
  /**
   * Plain synchronous `send`, for the fan-out of a batch of changes: the
   * frame goes straight to the socket when nothing is queued before it,
   * else into the outbox; false when the client is too slow (outbox full,
   * or too much unread), which the caller then closes with `tooSlow`.
   */
  readonly unsafeDeliver: (frame: string) => boolean
  readonly tooSlow: Effect.Effect<void>
  readonly close: (code: number, reason: string) => Effect.Effect<void>
}

export interface WebSocketHubService {
  /** Serves one upgraded connection until it closes or is dropped. */
  readonly serve: (socket: Socket.Socket) => Effect.Effect<void>
  readonly clientCount: Effect.Effect<number>
  /** Closes every client with 1001 (the daemon is going away) and waits, at most 1 s, until they are gone. */
  readonly closeAll: Effect.Effect<void>
}

const textDecoder = new TextDecoder()

export class WebSocketHub extends Context.Tag("termfleet/WebSocketHub")<WebSocketHub, WebSocketHubService>() {
  static readonly layer = Layer.scoped(
    WebSocketHub,
    Effect.gen(function*() {
      const { limits } = yield* DaemonConfig
      const cache = yield* SessionCache
      const stats = yield* Stats
      const projects = yield* Projects
      const viewing = yield* TerminalViewing
      const clients = new Set<Client>()
      const connected = yield* SubscriptionRef.make(0)
      const counted = Effect.suspend(() => SubscriptionRef.set(connected, clients.size))
      // Initial state and fan-out take turns, so a subscriber misses no change
      // between reading the initial state and joining the topic.
      const turn = yield* Effect.makeSemaphore(1)

      const recomputeInterest = Effect.gen(function*() {
        const next = normalizeTopics([...clients].flatMap((c) => [...c.topics]))
        const current = yield* SubscriptionRef.get(cache.interest)
        if (next.join() !== current.join()) yield* SubscriptionRef.set(cache.interest, next)
      })

      // Only read or advanced while holding `turn`.
      let seq = 0

      // The sessions of `sessions_initial` are serialised once for as long as
      // the cache and the set of live computers stay the same, not once per
      // subscriber: many dashboards reconnecting to a big fleet at once (the
      // daemon restarted) cost one serialisation, and share one string.
      let sessionsJson: { readonly key: string; readonly json: string } | undefined
      const sessionsInitial = Effect.gen(function*() {
        const computers = yield* cache.computers
        const key = `${yield* cache.revision}\n${computers.map((c) => c.name).join("\n")}`
        if (sessionsJson?.key !== key) sessionsJson = { key, json: encodeSessions(yield* cache.sessions()) }
        return encodeSessionsInitial(sessionsJson.json, computers, seq)
      })

      const initialFrame = (topic: Topic): Effect.Effect<string> =>
        topic === "sessions"
          ? sessionsInitial
          : Effect.map(
            Effect.all({ projects: cache.projects, todos: cache.todos }),
            (data) => encodeServerEvent({ event: "preparation_initial", data, seq })
          )

      const sendInitial = (client: Client, topic: Topic) => Effect.flatMap(initialFrame(topic), client.send)

      const handle = (client: Client, message: ClientMessage): Effect.Effect<void> => {
        switch (message.type) {
          case "subscribe":
            return turn.withPermits(1)(
              Effect.zipRight(sendInitial(client, message.topic), Effect.sync(() => client.topics.add(message.topic)))
            ).pipe(Effect.zipRight(recomputeInterest))
          case "unsubscribe":
            return Effect.sync(() => client.topics.delete(message.topic)).pipe(Effect.zipRight(recomputeInterest))
          case "refresh":
            return Effect.zipRight(
              projects.refresh,
              turn.withPermits(1)(Effect.forEach([...client.topics], (topic) => sendInitial(client, topic)))
            )
          case "ping":
            return client.send(encodeServerEvent({ event: "pong", data: null }))
          case "attach":
          case "keys":
          case "resize":
          case "detach":
            return client.terminals?.handle(message) ?? Effect.void
        }
      }

      // Only a fiber of the socket's own sees the `ws` socket.
      const captureRaw = (client: Client) =>
        Effect.map(Effect.serviceOption(Socket.WebSocket), (raw) => {
          if (client.raw === undefined && Option.isSome(raw)) client.raw = raw.value as unknown as RawSocket
        })

      // Frames over the limit never get here: `FrameLimit.ts` refuses them as they arrive.
      const handleFrame = (client: Client, data: string | Uint8Array) =>
        Either.match(decodeClientMessage(typeof data === "string" ? data : textDecoder.decode(data)), {
          onLeft: (error) => client.send(encodeServerEvent(error)),
          onRight: (message) => handle(client, message)
        })

      // One Effect per batch of changes; per change and client, plain
      // synchronous code. A change is serialised once, and only when a client
      // is subscribed to its topic.
      const fanOut = (batch: Iterable<CacheChange>) =>
        Effect.suspend(() => {
          let slow: Array<Client> | undefined
          for (const change of batch) {
            const [topic, event] = eventOfChange(change, ++seq)
            let frame: string | undefined
            for (const client of clients) {
              if (!client.topics.has(topic)) continue
              frame ??= encodeServerEvent(event)
              if (!client.unsafeDeliver(frame)) (slow ??= []).push(client)
            }
          }
          return slow === undefined ? Effect.void : Effect.forEach(slow, (client) => client.tooSlow, { discard: true })
        })
      const changes = yield* cache.subscribe
      yield* Queue.takeBetween(changes, 1, 1024).pipe(
        Effect.flatMap((batch) => turn.withPermits(1)(fanOut(batch))),
        (step) => surviving("sending changes to clients", step),
        Effect.forever,
        Effect.forkScoped
      )

      const closers = new Set<Effect.Effect<void>>()

      const serve = (socket: Socket.Socket) =>
        Effect.scoped(Effect.gen(function*() {
          const write = yield* socket.writer
          if (clients.size >= limits.maxClients) {
            // The socket must run for the upgrade to complete and the refusal to be sent.
            return yield* socket.runRaw(() => Effect.void, {
              onOpen: Effect.zipRight(
                write(encodeServerEvent(errorEvent("too_many_clients", `at most ${limits.maxClients} clients`))),
                write(new Socket.CloseEvent(CloseCode.tryAgainLater, "too many clients"))
              ).pipe(Effect.ignore)
            })
          }
          const outbox = yield* Queue.dropping<string>(limits.clientQueue)
          const closing = yield* Deferred.make<Socket.CloseEvent>()
          const close = (code: number, reason: string) =>
            Effect.asVoid(Deferred.succeed(closing, new Socket.CloseEvent(code, reason)))
          const tooSlow = Effect.flatMap(
            Deferred.succeed(closing, new Socket.CloseEvent(CloseCode.tryAgainLater, "client too slow")),
            (first) => (first ? stats.add("droppedClients") : Effect.void)
          )
          // Frames queued or being written by the writer: while there are any, a new frame queues behind them.
          let pending = 0
          const enqueue = (frame: string) => {
            if (!Queue.unsafeOffer(outbox, frame)) return false
            pending++
            return true
          }
          const client: Client = {
            topics: new Set(),
            raw: undefined,
            send: (frame) => Effect.suspend(() => (enqueue(frame) ? Effect.void : tooSlow)),
            sendNow: (frame) => {
              if (!enqueue(frame)) Effect.runFork(tooSlow)
            },
            terminals: undefined,
            unsafeDeliver: (frame) => {
              const raw = client.raw
              if (pending > 0 || raw === undefined) return enqueue(frame)
              raw.send(frame)
              return raw.bufferedAmount <= limits.clientBufferBytes
            },
            tooSlow,
            close
          }
          // Detached when the connection's scope closes.
          client.terminals = yield* viewing.open(client.sendNow)
          const goingAway = close(CloseCode.goingAway, "daemon shutting down")
          clients.add(client)
          closers.add(goingAway)
          yield* counted
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              clients.delete(client)
              closers.delete(goingAway)
              return Effect.zipRight(counted, recomputeInterest)
            })
          )
          yield* recomputeInterest

          const writer = Effect.forever(
            Effect.flatMap(Queue.take(outbox), (frame) =>
              Effect.zipRight(
                Effect.ensuring(write(frame), Effect.sync(() => void pending--)),
                (client.raw?.bufferedAmount ?? 0) > limits.clientBufferBytes ? Effect.zipRight(tooSlow, Effect.never) : Effect.void
              ))
          ).pipe(Effect.tapError(() => stats.add("droppedClients")))
          // `runRaw` runs each frame's effect in a fiber of its own, so frames
          // could overtake one another (an unsubscribe its subscribe): they
          // are queued here as they arrive and handled in order by one fiber.
          const inbox = yield* Queue.bounded<string | Uint8Array>(Limits.inboxMessages)
          const reader = socket.runRaw((data) => {
            if (!Queue.unsafeOffer(inbox, data)) return close(CloseCode.policy, `at most ${Limits.inboxMessages} messages waiting`)
            return client.raw === undefined ? captureRaw(client) : undefined
          })
          const handler = Effect.forever(Effect.flatMap(Queue.take(inbox), (data) => handleFrame(client, data)))
          const closer = Effect.flatMap(Deferred.await(closing), write)
          // Whichever ends first ends the client: it left, a send failed, or it is being closed.
          yield* writer.pipe(Effect.raceFirst(reader), Effect.raceFirst(handler), Effect.raceFirst(closer))
        }).pipe(Effect.ignore))

      return {
        serve,
        clientCount: Effect.sync(() => clients.size),
        closeAll: Effect.suspend(() => Effect.forEach([...closers], (close) => close, { discard: true })).pipe(
          Effect.zipRight(connected.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)),
          Effect.timeoutOption("1 second"),
          Effect.asVoid
        )
      }
    })
  )
}
