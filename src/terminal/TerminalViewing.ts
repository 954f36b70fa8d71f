/**
 * The terminals one WebSocket client has attached: it handles the client's
 * `attach`, `keys`, `resize` and `detach` messages and sends it the
 * `terminal_*` frames, for sessions of this computer (`Terminals`) and of
 * others (`RemotePanes`).
 */
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { encodeServerEvent, encodeTerminalOutput } from "../domain/Protocol.js"
import { Limits } from "../domain/Limits.js"
import type { TerminalClosedReason, TerminalMessage } from "../domain/TerminalProtocol.js"
import { SessionCache } from "../cache/SessionCache.js"
import { type Attachment, Terminals, type TerminalUnavailable, type Viewer } from "./Terminals.js"
import { RemotePanes } from "../fleet/RemotePanes.js"

export interface ClientTerminals {
  readonly handle: (message: TerminalMessage) => Effect.Effect<void>
}

export interface TerminalViewingService {
  /** The terminals of one client, detached when the scope closes; `send` queues a frame for it. */
  readonly open: (send: (frame: string) => void) => Effect.Effect<ClientTerminals, never, Scope.Scope>
}

interface Attached {
  readonly scope: Scope.CloseableScope
  readonly attachment: Attachment
}

const encoder = new TextEncoder()

export class TerminalViewing extends Context.Tag("termfleet/TerminalViewing")<TerminalViewing, TerminalViewingService>() {
  static readonly layer = Layer.effect(
    TerminalViewing,
    Effect.gen(function*() {
      const { computer: self } = yield* DaemonConfig
      const cache = yield* SessionCache
      const terminals = yield* Terminals
      // Sessions of other computers, through Redis (refused when running local-only).
      const remote = yield* RemotePanes

      /** Which computer owns a session: the one named, else the one the cache knows it on. */
      const ownerOf = (sessionId: string, computer: string | undefined) =>
        computer !== undefined
          ? Effect.succeed(Option.some(computer))
          : Effect.map(cache.sessions(), (sessions) =>
            Option.fromNullable(sessions.find((session) => session.sessionId === sessionId)?.computer))

      const open = (send: (frame: string) => void) =>
        Effect.gen(function*() {
          const attached = new Map<string, Attached>()
          const closed = (sessionId: string, reason: TerminalClosedReason, message: string) =>
            send(encodeServerEvent({ event: "terminal_closed", data: { sessionId, reason, message } }))

          const detach = (sessionId: string) =>
            Effect.suspend(() => {
              const found = attached.get(sessionId)
              if (found === undefined) return Effect.void
              attached.delete(sessionId)
              return Scope.close(found.scope, Exit.void)
            })
          yield* Effect.addFinalizer(() => Effect.forEach([...attached.keys()], detach, { discard: true }))

          const viewerFor = (sessionId: string, computer: string): Viewer => ({
            snapshot: (position, cols, rows, data) =>
              send(encodeServerEvent({ event: "terminal_snapshot", data: { sessionId, computer, position, cols, rows, data } })),
            output: (position, _data, base64) => send(encodeTerminalOutput({ sessionId, position, data: base64() })),
            resized: (cols, rows) => send(encodeServerEvent({ event: "terminal_resized", data: { sessionId, cols, rows } })),
            closed: (reason, message) => {
              // Its side ended it: what the attachment holds (a mirror's viewer, a listener) is released too.
              const found = attached.get(sessionId)
              attached.delete(sessionId)
              if (found !== undefined) Effect.runFork(Scope.close(found.scope, Exit.void))
              closed(sessionId, reason, message)
            }
          })

          const attach = (message: Extract<TerminalMessage, { type: "attach" }>) =>
            Effect.gen(function*() {
              const { cols, from, rows, sessionId } = message
              yield* detach(sessionId)
              if (attached.size >= Limits.attachedTerminals) {
                return closed(sessionId, "unavailable", `at most ${Limits.attachedTerminals} terminals per client`)
              }
              const owner = yield* ownerOf(sessionId, message.computer)
              if (Option.isNone(owner)) return closed(sessionId, "not_found", `no session '${sessionId}' on any online computer`)
              const computer = owner.value
              const scope = yield* Scope.make()
              const viewer = viewerFor(sessionId, computer)
              const attaching: Effect.Effect<Attachment, TerminalUnavailable, Scope.Scope> = computer === self
                ? terminals.attach(sessionId, { cols, rows }, from, viewer)
                : remote.attach(computer, sessionId, { cols, rows }, from, viewer)
              const attachment = yield* Effect.either(Scope.extend(attaching, scope))
              if (attachment._tag === "Left") {
                yield* Scope.close(scope, Exit.void)
                return closed(sessionId, attachment.left.reason, attachment.left.message)
              }
              attached.set(sessionId, { scope, attachment: attachment.right })
            })

          /** Keys for a session this client does not watch (`termfleet send --keys`): typed, its size left alone. */
          const typeUnattached = (sessionId: string, bytes: Uint8Array) =>
            Effect.gen(function*() {
              const owner = yield* ownerOf(sessionId, undefined)
              if (Option.isNone(owner)) return closed(sessionId, "not_found", `no session '${sessionId}' on any online computer`)
              const typed = yield* Effect.either(
                owner.value === self
                  ? terminals.type(sessionId, bytes)
                  : remote.type(owner.value, sessionId, bytes)
              )
              if (typed._tag === "Left") closed(sessionId, typed.left.reason, typed.left.message)
            })

          const handle = (message: TerminalMessage): Effect.Effect<void> => {
            switch (message.type) {
              case "attach":
                return attach(message)
              case "keys": {
                const bytes = message.encoding === "base64" ? Buffer.from(message.data, "base64") : encoder.encode(message.data)
                const found = attached.get(message.sessionId)
                return found === undefined ? typeUnattached(message.sessionId, bytes) : found.attachment.keys(bytes)
              }
              case "resize": {
                const found = attached.get(message.sessionId)
                return found === undefined ? Effect.void : found.attachment.resize({ cols: message.cols, rows: message.rows })
              }
              case "detach":
                return Effect.zipRight(
                  detach(message.sessionId),
                  Effect.sync(() => closed(message.sessionId, "detached", "detached"))
                )
            }
          }
          return { handle } satisfies ClientTerminals
        })

      return { open }
    })
  )
}
