/**
 * The WebSocket clients of this daemon. A connection is plain state on a
 * `ws` socket of this hub's own `WebSocketServer`: no fiber or Effect queue
 * lives for it while it is idle (at a thousand clients, those were most of
 * the daemon's memory). A client's frames go straight to its socket, in
 * order, and the socket's buffer is its bounded queue: a slow client never
 * holds up the others, and when too much waits unsent in its socket it alone
 * is closed (1013). Its messages are handled one at a time, in order, by a
 * fiber that lives only while some wait. Cache changes are serialised once
 * per event and written to the clients subscribed to the event's topic as
 * the cache publishes them, synchronously.
 *
 * Interest (the union of all clients' topics) is recomputed on every
 * connect, subscribe, unsubscribe and disconnect.
 */
import { Context, Effect, Either, Exit, Layer, Runtime, Scope, Stream, SubscriptionRef } from "effect"
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type WebSocket, WebSocketServer } from "ws"
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
import { type CacheChange, type CacheView, normalizeTopics, SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
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
  internalError: 1011,
  tryAgainLater: 1013
} as const

interface Client {
  readonly socket: WebSocket
  /** The connection under `socket`, corked while a turn's frames pile up (see `beforeFrame`). */
  readonly connection: Duplex
  /** Whether a frame went to it in the current turn of the event loop. */
  inTurn: boolean
  readonly topics: Set<Topic>
  /** Frames handed to the socket while it still held unsent bytes, and not written out since. */
  waiting: number
  /** Decrements `waiting`: one function per client, passed with each frame that waits. */
  readonly written: () => void
  /** Messages received and not handled yet; `handling` while a fiber works through them, in order. */
  readonly inbox: Array<Uint8Array>
  handling: boolean
  /** Its live terminals, opened with its first terminal message; detached when `scope` closes (it left or was closed). */
  terminals: { readonly scope: Scope.CloseableScope; readonly terminals: ClientTerminals } | undefined
  /** Set once it is leaving or being closed: nothing more is sent to it or handled from it. */
  closing: boolean
}

export interface WebSocketHubService {
  /**
   * Takes over the connection of an upgrade request (checked by `HttpGuard`):
   * completes the WebSocket handshake and serves the client from then on,
   * without a fiber of its own. The caller must not answer the request.
   */
  readonly serve: (request: IncomingMessage) => Effect.Effect<void>
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
      // Runs what a client's socket starts (its messages, its leaving) from the socket's own callbacks.
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())

      const recomputeInterest = Effect.gen(function*() {
        const next = normalizeTopics([...clients].flatMap((c) => [...c.topics]))
        const current = yield* SubscriptionRef.get(cache.interest)
        if (next.join() !== current.join()) yield* SubscriptionRef.set(cache.interest, next)
      })

      // The number of the last change fanned out: advanced by the fan-out, read with an initial state in the same step.
      let seq = 0

      // The sessions of `sessions_initial` are serialised once for as long as
      // the cache and the set of live computers stay the same, not once per
      // subscriber: many dashboards reconnecting to a big fleet at once (the
      // daemon restarted) cost one serialisation, and share one string.
      let sessionsJson: { readonly key: string; readonly json: string } | undefined
      const initialFrame = (topic: Topic, view: CacheView): string => {
        if (topic === "preparation") {
          return encodeServerEvent({ event: "preparation_initial", data: { projects: view.projects(), todos: view.todos() }, seq })
        }
        const computers = view.computers()
        const key = `${view.revision}\n${computers.map((c) => c.name).join("\n")}`
        if (sessionsJson?.key !== key) sessionsJson = { key, json: encodeSessions(view.sessions()) }
        return encodeSessionsInitial(sessionsJson.json, computers, seq)
      }

      // The frames a client gets in one turn of the event loop (a batch read
      // from a peer's stream: up to `readBatch` changes) leave in two writes
      // rather than one each: the first at once, so a lone change is not held
      // back, the rest corked until the turn ends (`process.nextTick`, as
      // Node's documentation of `cork` advises).
      let inTurn: Array<Client> = []
      const endTurn = () => {
        const turn = inTurn
        inTurn = []
        for (const client of turn) {
          client.inTurn = false
          // Corked only here, and `ws` uncorks its own corks at once: a cork left is this turn's.
          if (client.connection.writableCorked > 0) client.connection.uncork()
        }
      }
      const beforeFrame = (client: Client) => {
        if (!client.inTurn) {
          client.inTurn = true
          if (inTurn.push(client) === 1) process.nextTick(endTurn)
        } else if (client.connection.writableCorked === 0) {
          client.connection.cork()
        }
      }

      /**
       * Hands a frame to the client's socket; false when the client is too
       * slow for it (more than `clientQueue` frames or `clientBufferBytes`
       * bytes wait unsent in its socket), which the caller then closes with
       * `tooSlow`. A frame counts as waiting when the socket still held
       * unsent bytes as it was handed over (one handed to an empty socket
       * goes out at once, or leaves the socket holding no more than itself).
       */
      const deliver = (client: Client, frame: string): boolean => {
        const socket = client.socket
        // Closed by the client, its `close` not handled yet: `ws` would count what is sent as buffered.
        if (client.closing || socket.readyState !== socket.OPEN) return true
        beforeFrame(client)
        if (socket.bufferedAmount === 0) {
          socket.send(frame)
        } else {
          client.waiting++
          socket.send(frame, client.written)
        }
        return client.waiting <= limits.clientQueue && socket.bufferedAmount <= limits.clientBufferBytes
      }

      /** The client is gone or going: removed at once, its terminals detached, interest recomputed. */
      const remove = (client: Client) =>
        Effect.suspend(() => {
          client.closing = true
          if (!clients.delete(client)) return Effect.void
          const detached = client.terminals === undefined ? Effect.void : Scope.close(client.terminals.scope, Exit.void)
          return Effect.zipRight(detached, Effect.zipRight(counted, recomputeInterest))
        })

      /** Closes the client (its close frame goes after the frames already in its socket) and removes it; false if it was already. */
      const close = (client: Client, code: number, reason: string): Effect.Effect<boolean> =>
        Effect.suspend(() => {
          if (client.closing) return Effect.succeed(false)
          client.socket.close(code, reason)
          return Effect.as(remove(client), true)
        })

      const tooSlow = (client: Client) =>
        Effect.flatMap(close(client, CloseCode.tryAgainLater, "client too slow"), (first) => (first ? stats.add("droppedClients") : Effect.void))

      const send = (client: Client, frame: string) => Effect.suspend(() => (deliver(client, frame) ? Effect.void : tooSlow(client)))

      /**
       * The topic's initial state, then (with `join`) every change after it:
       * read, sent and joined in one synchronous step, during which no change
       * is published, so none is missed or sent twice.
       */
      const sendInitial = (client: Client, topics: ReadonlyArray<Topic>, join: boolean) =>
        Effect.flatMap(
          cache.atomically((view) =>
            topics.every((topic) => {
              if (join) client.topics.add(topic)
              return deliver(client, initialFrame(topic, view))
            })
          ),
          (kept) => (kept ? Effect.void : tooSlow(client))
        )

      const terminalsOf = (client: Client): Effect.Effect<ClientTerminals> =>
        client.terminals !== undefined ? Effect.succeed(client.terminals.terminals) : Effect.gen(function*() {
          const scope = yield* Scope.make()
          const terminals = yield* Scope.extend(
            viewing.open((frame) => {
              if (!deliver(client, frame)) runFork(tooSlow(client))
            }),
            scope
          )
          client.terminals = { scope, terminals }
          // Removed meanwhile: `remove` found no terminals to detach.
          if (client.closing) yield* Scope.close(scope, Exit.void)
          return terminals
        })

      const handle = (client: Client, message: ClientMessage): Effect.Effect<void> => {
        switch (message.type) {
          case "subscribe":
            return Effect.zipRight(sendInitial(client, [message.topic], true), recomputeInterest)
          case "unsubscribe":
            return Effect.sync(() => client.topics.delete(message.topic)).pipe(Effect.zipRight(recomputeInterest))
          case "refresh":
            return Effect.zipRight(
              projects.refresh,
              Effect.suspend(() => sendInitial(client, [...client.topics], false))
            )
          case "ping":
            return send(client, encodeServerEvent({ event: "pong", data: null }))
          case "attach":
          case "keys":
          case "resize":
          case "detach":
            return Effect.flatMap(terminalsOf(client), (terminals) => terminals.handle(message))
        }
      }

      // Frames over the limit never get here: `FrameLimit.ts` refuses them as they arrive.
      const handleFrame = (client: Client, data: Uint8Array) =>
        Either.match(decodeClientMessage(textDecoder.decode(data)), {
          onLeft: (error) => send(client, encodeServerEvent(error)),
          onRight: (message) => handle(client, message)
        })

      // Handles the inbox one message at a time until it is empty; `handling`
      // is cleared in the same step that finds it empty, so a message that
      // arrives at any other moment is taken by this loop.
      const handleInbox = (client: Client): Effect.Effect<void> =>
        Effect.suspend(() => {
          const data = client.closing ? undefined : client.inbox.shift()
          if (data === undefined) {
            client.handling = false
            return Effect.void
          }
          return Effect.zipRight(handleFrame(client, data), handleInbox(client))
        })

      /**
       * A message from the client: queued, and when no fiber is handling the
       * client's messages, one is started that lives until the inbox is
       * empty. A handler that dies ends the connection.
       */
      const receive = (client: Client, data: Uint8Array) => {
        if (client.closing) return
        if (client.inbox.length >= Limits.inboxMessages) {
          runFork(close(client, CloseCode.policy, `at most ${Limits.inboxMessages} messages waiting`))
          return
        }
        client.inbox.push(data)
        if (client.handling) return
        client.handling = true
        runFork(handleInbox(client).pipe(Effect.onError(() => close(client, CloseCode.internalError, "internal error"))))
      }

      // Each change is sent as the cache publishes it, as plain synchronous
      // code: no queue and no fiber between the reader of a peer's stream and
      // the clients' sockets. Serialised once, and only when a client is
      // subscribed to its topic.
      yield* cache.listen((change) => {
        const [topic, event] = eventOfChange(change, ++seq)
        let frame: string | undefined
        let slow: Array<Client> | undefined
        for (const client of clients) {
          if (!client.topics.has(topic)) continue
          frame ??= encodeServerEvent(event)
          if (!deliver(client, frame)) (slow ??= []).push(client)
        }
        if (slow !== undefined) slow.forEach((client) => runFork(tooSlow(client)))
      })

      // The platform's `ws` server cannot be shared: its connections live inside a fiber each.
      const server = yield* Effect.acquireRelease(
        Effect.sync(() => new WebSocketServer({ noServer: true, clientTracking: false })),
        (server) => Effect.sync(() => server.close())
      )
      /** Serves a client on its socket from the moment the handshake is done, before any of its messages can arrive. */
      const accept = (socket: WebSocket, connection: Duplex) => {
        // `ws` emits `error` (then `close`, which removes the client) when a connection fails, and throws without a listener.
        socket.on("error", () => undefined)
        if (clients.size >= limits.maxClients) {
          socket.send(encodeServerEvent(errorEvent("too_many_clients", `at most ${limits.maxClients} clients`)))
          socket.close(CloseCode.tryAgainLater, "too many clients")
          return
        }
        const client: Client = {
          socket,
          connection,
          inTurn: false,
          topics: new Set(),
          waiting: 0,
          written: () => void client.waiting--,
          inbox: [],
          handling: false,
          terminals: undefined,
          closing: false
        }
        clients.add(client)
        socket.on("message", (data: Buffer) => receive(client, data))
        socket.on("close", () => runFork(remove(client)))
        runFork(Effect.zipRight(counted, recomputeInterest))
      }

      // Nothing follows the request in its packet: a client sends nothing before the handshake's answer (RFC 6455 §4.1).
      const noHead = Buffer.alloc(0)
      // A refused handshake destroys the socket, and the platform interrupts the request's fiber.
      const serve = (request: IncomingMessage) =>
        Effect.async<void>((resume) =>
          server.handleUpgrade(request, request.socket, noHead, (socket) => {
            accept(socket, request.socket)
            resume(Effect.void)
          })
        )

      return {
        serve,
        clientCount: Effect.sync(() => clients.size),
        closeAll: Effect.suspend(() =>
          Effect.forEach([...clients], (client) => close(client, CloseCode.goingAway, "daemon shutting down"), { discard: true })
        ).pipe(
          Effect.zipRight(connected.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)),
          Effect.timeoutOption("1 second"),
          Effect.asVoid
        )
      }
    })
  )
}
