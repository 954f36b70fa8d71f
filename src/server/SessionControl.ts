/**
 * Start, type into, read and end any session of the fleet. A session of this
 * computer goes to tmux; a session of another goes to that computer's daemon
 * through `Requests`. Every failure is one of the API's errors.
 */
import { Context, Effect, Layer, Option } from "effect"
import { type ControlError, InvalidInput, NotFound, PeerTimeout, TerminalFailed } from "../domain/Api.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import type { Session } from "../domain/Model.js"
import { type InvalidSessionInput, LocalSessions, type SessionNotFound, type TmuxError } from "../local/LocalSessions.js"
import type { CreateSessionBody, PeerReply, PeerRequest } from "../domain/PeerRequest.js"
import { Requests } from "../fleet/Requests.js"
import { SessionCache } from "../cache/SessionCache.js"

export interface SessionControlService {
  readonly create: (body: CreateSessionBody) => Effect.Effect<Session, ControlError>
  readonly input: (sessionId: string, text: string) => Effect.Effect<Session, ControlError>
  readonly end: (sessionId: string) => Effect.Effect<void, ControlError>
  readonly output: (sessionId: string, lines: number) => Effect.Effect<{ readonly computer: string; readonly output: string }, ControlError>
}

/** Local failures, as the API reports them. */
const fromLocal = <A, R>(
  effect: Effect.Effect<A, SessionNotFound | InvalidSessionInput | TmuxError, R>
): Effect.Effect<A, ControlError, R> =>
  Effect.mapError(effect, (e) => {
    switch (e._tag) {
      case "SessionNotFound":
        return new NotFound({ message: `no session '${e.sessionId}' on this computer` })
      case "InvalidSessionInput":
        return new InvalidInput({ message: e.message })
      case "TmuxError":
        return new TerminalFailed({ message: `tmux: ${e.message}` })
    }
  })

const fromReply = (reply: PeerReply): Effect.Effect<PeerReply, ControlError> => {
  if (reply._tag !== "failed") return Effect.succeed(reply)
  switch (reply.kind) {
    case "SessionNotFound":
      return Effect.fail(new NotFound({ message: reply.message }))
    case "InvalidSessionInput":
      return Effect.fail(new InvalidInput({ message: reply.message }))
    case "TmuxError":
      return Effect.fail(new TerminalFailed({ message: reply.message }))
  }
}

const unexpected = (reply: PeerReply) => new TerminalFailed({ message: `unexpected reply '${reply._tag}'` })

export class SessionControl extends Context.Tag("termfleet/SessionControl")<SessionControl, SessionControlService>() {
  static readonly layer = Layer.effect(
    SessionControl,
    Effect.gen(function*() {
      const { computer: self } = yield* DaemonConfig
      const cache = yield* SessionCache
      const local = yield* LocalSessions
      const requests = yield* Requests

      const remote = (computer: string, request: PeerRequest) =>
        Effect.gen(function*() {
          if (Option.isNone(yield* cache.computer(computer))) {
            return yield* new NotFound({ message: `computer '${computer}' is not online (no heartbeat within 60 s)` })
          }
          const reply = yield* requests.call(computer, request).pipe(
            Effect.catchTags({
              NotInFleet: (e) => Effect.fail(new NotFound({ message: e.message })),
              PeerUnavailable: (e) => Effect.fail(new PeerTimeout({ message: e.message }))
            })
          )
          return yield* fromReply(reply)
        })

      const owner = (sessionId: string) =>
        Effect.flatMap(cache.sessions(), (sessions) => {
          const found = sessions.find((s) => s.sessionId === sessionId)
          return found === undefined
            ? Effect.fail(new NotFound({ message: `no session '${sessionId}' on any online computer` }))
            : Effect.succeed(found.computer)
        })

      const sessionOf = (reply: PeerReply) => (reply._tag === "session" ? Effect.succeed(reply.session) : Effect.fail(unexpected(reply)))

      return {
        create: (body) => {
          const { computer = self, ...request } = body
          return computer === self
            ? fromLocal(local.create(request))
            : Effect.flatMap(remote(computer, { _tag: "create", ...request }), sessionOf)
        },
        input: (sessionId, text) =>
          Effect.flatMap(owner(sessionId), (computer) =>
            computer === self
              ? fromLocal(local.sendInput(sessionId, text))
              : Effect.flatMap(remote(computer, { _tag: "input", sessionId, text }), sessionOf)),
        end: (sessionId) =>
          Effect.flatMap(owner(sessionId), (computer) =>
            computer === self
              ? fromLocal(local.end(sessionId))
              : Effect.asVoid(remote(computer, { _tag: "end", sessionId }))),
        output: (sessionId, lines) =>
          Effect.flatMap(owner(sessionId), (computer) =>
            Effect.map(
              computer === self
                ? fromLocal(local.output(sessionId, lines))
                : Effect.flatMap(remote(computer, { _tag: "output", sessionId, lines }), (reply) =>
                  reply._tag === "output" ? Effect.succeed(reply.output) : Effect.fail(unexpected(reply))),
              (output) => ({ computer, output })
            ))
      }
    })
  )
}
