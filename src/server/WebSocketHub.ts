/**
 * The WebSocket clients of this daemon. A client's frames go straight to
 * its own socket, in order, and the socket's buffer is its bounded queue:
 * a slow client never holds up the others, and when too much waits unsent
 * in its socket it alone is closed (1013). Cache changes are serialised once
 * per event and offered to the clients subscribed to the event's topic.
 *
 * Interest (the union of all clients' topics) is recomputed on every
 * connect, subscribe, unsubscribe and disconnect.
 */
import * as Socket from "@effect/platform/Socket"
import { Context, Effect, Either, type Fiber, Layer, Option, Queue, Stream, SubscriptionRef } from "effect"
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
  /** Bytes handed to the socket and not yet written out: the client has not read them. */
  readonly bufferedAmount: number
  /** `sent` is called once the frame is written out (or the socket failed). */
  readonly send: (frame: string, sent?: () => void) => void
  readonly close: (code: number, reason: string) => void
}

/**
 * One connected client: plain state, no fiber or queue of its own while it
 * is idle (at a thousand clients, fibers and Effect queues were most of the
 * daemon's memory). Its frames go straight to its socket, in order; the
 * socket's buffer is its queue, bounded by `waiting` and `bufferedAmount`.
 */
interface Client {
  readonly topics: Set<Topic>
  /** The underlying `ws` socket, known from the client's first message (only message handlers see it). */
  raw: RawSocket | undefined
  /** Frames handed to the socket while it still held unsent bytes, and not written out since. */
  waiting: number
  /** Decrements `waiting`: one function per client, passed with each frame that waits. */
  readonly written: () => void
  /** Messages received and not handled yet; `handling` while a fiber works through them, in order. */
  readonly inbox: Array<string | Uint8Array>
  handling: boolean
  /** Its live terminals. */
  terminals: ClientTerminals | undefined
  /** Set once it is being closed: nothing more is sent to it. */
  closing: boolean
  /** The platform socket's writer: frames before `raw` is known, and close frames. */
  readonly write: (chunk: string | Socket.CloseEvent) => Effect.Effect<void, Socket.SocketError>
  /** Ends the fiber serving the connection, which removes the client. */
  readonly end: () => void
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

      /**
       * Hands a frame to the client's socket; false when the client is too
       * slow for it (more than `clientQueue` frames or `clientBufferBytes`
       * bytes wait unsent in its socket), which the caller then closes with
       * `tooSlow`. A frame counts as waiting when the socket still held
       * unsent bytes as it was handed over (one handed to an empty socket
       * goes out at once, or leaves the socket holding no more than itself).
       */
      const deliver = (client: Client, frame: string): boolean => {
        if (client.closing) return true
        const raw = client.raw
        if (raw === undefined) {
          // Not expected: every frame answers one of the client's messages, and its first one makes `raw` known.
          Effect.runFork(Effect.ignore(client.write(frame)))
          return true
        }
        if (raw.bufferedAmount === 0) {
          raw.send(frame)
        } else {
          client.waiting++
          raw.send(frame, client.written)
        }
        return client.waiting <= limits.clientQueue && raw.bufferedAmount <= limits.clientBufferBytes
      }

      /** Closes the client: its close frame goes after the frames already in its socket, then its connection's fiber ends. */
      const close = (client: Client, code: number, reason: string): Effect.Effect<boolean> =>
        Effect.suspend(() => {
          if (client.closing) return Effect.succeed(false)
          client.closing = true
          const raw = client.raw
          const sent = raw === undefined
            ? Effect.ignore(client.write(new Socket.CloseEvent(code, reason)))
            : Effect.sync(() => raw.close(code, reason))
          return Effect.as(Effect.ensuring(sent, Effect.sync(client.end)), true)
        })

      const tooSlow = (client: Client) =>
        Effect.flatMap(close(client, CloseCode.tryAgainLater, "client too slow"), (first) => (first ? stats.add("droppedClients") : Effect.void))

      const send = (client: Client, frame: string) => Effect.suspend(() => (deliver(client, frame) ? Effect.void : tooSlow(client)))

      const sendInitial = (client: Client, topic: Topic) => Effect.flatMap(initialFrame(topic), (frame) => send(client, frame))

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
            return send(client, encodeServerEvent({ event: "pong", data: null }))
          case "attach":
          case "keys":
          case "resize":
          case "detach":
            return client.terminals?.handle(message) ?? Effect.void
        }
      }

      // Frames over the limit never get here: `FrameLimit.ts` refuses them as they arrive.
      const handleFrame = (client: Client, data: string | Uint8Array) =>
        Either.match(decodeClientMessage(typeof data === "string" ? data : textDecoder.decode(data)), {
          onLeft: (error) => send(client, encodeServerEvent(error)),
          onRight: (message) => handle(client, message)
        })

      // Handles the inbox one message at a time until it is empty; `handling`
      // is cleared in the same step that finds it empty, so a message that
      // arrives at any other moment is taken by this loop.
      const handleInbox = (client: Client): Effect.Effect<void> =>
        Effect.suspend(() => {
          const data = client.inbox.shift()
          if (data === undefined) {
            client.handling = false
            return Effect.void
          }
          return Effect.zipRight(handleFrame(client, data), handleInbox(client))
        })

      // Only an effect returned by `runRaw`'s handler sees the `ws` socket.
      const captureRaw = (client: Client) =>
        Effect.map(Effect.serviceOption(Socket.WebSocket), (raw) => {
          if (client.raw === undefined && Option.isSome(raw)) client.raw = raw.value as unknown as RawSocket
        })

      /**
       * A message from the client, as `runRaw` hands it over: queued, and
       * when no fiber is handling the client's messages, one is started (an
       * effect returned here runs in a fiber of its own) that lives until
       * the inbox is empty. A handler that dies ends the connection.
       */
      const receive = (client: Client, data: string | Uint8Array) => {
        if (client.inbox.length >= Limits.inboxMessages) {
          return close(client, CloseCode.policy, `at most ${Limits.inboxMessages} messages waiting`)
        }
        client.inbox.push(data)
        if (client.handling) return undefined
        client.handling = true
        return Effect.zipRight(captureRaw(client), handleInbox(client)).pipe(Effect.onError(() => Effect.sync(client.end)))
      }

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
              if (!deliver(client, frame)) (slow ??= []).push(client)
            }
          }
          return slow === undefined ? Effect.void : Effect.forEach(slow, tooSlow, { discard: true })
        })
      const changes = yield* cache.subscribe
      yield* Queue.takeBetween(changes, 1, 1024).pipe(
        Effect.flatMap((batch) => turn.withPermits(1)(fanOut(batch))),
        (step) => surviving("sending changes to clients", step),
        Effect.forever,
        Effect.forkScoped
      )

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
          const fiber = yield* Effect.withFiberRuntime<Fiber.RuntimeFiber<unknown, unknown>>((fiber) => Effect.succeed(fiber))
          const client: Client = {
            topics: new Set(),
            raw: undefined,
            waiting: 0,
            written: () => void client.waiting--,
            inbox: [],
            handling: false,
            terminals: undefined,
            closing: false,
            write,
            end: () => fiber.unsafeInterruptAsFork(fiber.id())
          }
          // Detached when the connection's scope closes.
          client.terminals = yield* viewing.open((frame) => {
            if (!deliver(client, frame)) Effect.runFork(tooSlow(client))
          })
          clients.add(client)
          yield* counted
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              client.closing = true
              clients.delete(client)
              return Effect.zipRight(counted, recomputeInterest)
            })
          )
          yield* recomputeInterest
          // Ends when the client leaves or its socket fails, or when it is closed (`end`).
          yield* socket.runRaw((data) => receive(client, data))
        }).pipe(Effect.ignore))

      return {
        serve,
        clientCount: Effect.sync(() => clients.size),
        closeAll: Effect.suspend(() =>
          Effect.forEach([...clients], (client) => close(client, CloseCode.goingAway, "daemon shutting down"), {
            concurrency: "unbounded",
            discard: true
          })
        ).pipe(
          Effect.zipRight(connected.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)),
          Effect.timeoutOption("1 second"),
          Effect.asVoid
        )
      }
    })
  )
}
