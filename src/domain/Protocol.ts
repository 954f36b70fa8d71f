/**
 * The WebSocket protocol of `/ws`: JSON text frames. Client messages are
 * decoded with Schema; server events are `{"event": E, "data": ...}`.
 */
import { Either, Schema } from "effect"
import type { Computer, Project, Session, SessionRef, Todo } from "./Model.js"
import { Topic as TopicSchema } from "./Model.js"
import { TerminalMessage, type TerminalEvent } from "./TerminalProtocol.js"

export const ClientMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("subscribe"), topic: TopicSchema }),
  Schema.Struct({ type: Schema.Literal("unsubscribe"), topic: TopicSchema }),
  Schema.Struct({ type: Schema.Literal("refresh") }),
  Schema.Struct({ type: Schema.Literal("ping") }),
  ...TerminalMessage.members
)
export type ClientMessage = typeof ClientMessage.Type

export type ErrorCode = "invalid_json" | "unknown_message" | "frame_too_large" | "too_many_clients" | "too_many_terminals"

export type ServerEvent =
  | { readonly event: "sessions_initial"; readonly data: { readonly sessions: ReadonlyArray<Session>; readonly computers: ReadonlyArray<Computer> } }
  | { readonly event: "preparation_initial"; readonly data: { readonly projects: ReadonlyArray<Project>; readonly todos: ReadonlyArray<Todo> } }
  | { readonly event: "session_updated"; readonly data: Session }
  | { readonly event: "session_removed"; readonly data: SessionRef }
  | { readonly event: "computer_updated"; readonly data: Computer }
  | { readonly event: "computer_removed"; readonly data: { readonly name: string } }
  | { readonly event: "projects_updated"; readonly data: { readonly computer: string; readonly projects: ReadonlyArray<Project> } }
  | { readonly event: "todos_updated"; readonly data: { readonly computer: string; readonly todos: ReadonlyArray<Todo> } }
  | { readonly event: "pong"; readonly data: null }
  | { readonly event: "error"; readonly data: { readonly code: ErrorCode; readonly message: string } }
  | TerminalEvent

/**
 * `seq` numbers the changes of this daemon's cache: pushed events carry theirs,
 * initial states the last one they include. A client that has seen `seq` n
 * can drop anything numbered n or less as already known; gaps are normal
 * (changes of topics it did not subscribe to).
 */
export const encodeServerEvent = (event: ServerEvent, seq?: number): string =>
  JSON.stringify(seq === undefined ? event : { ...event, seq })

/**
 * `sessions_initial` around sessions serialised beforehand: the same text
 * `encodeServerEvent` gives for the same values, without serialising the
 * sessions again for every subscriber.
 */
export const encodeSessionsInitial = (sessionsJson: string, computers: ReadonlyArray<Computer>, seq: number): string =>
  `{"event":"sessions_initial","data":{"sessions":${sessionsJson},"computers":${JSON.stringify(computers)}},"seq":${seq}}`

export const errorEvent = (code: ErrorCode, message: string): ServerEvent => ({ event: "error", data: { code, message } })

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson())
const decodeMessage = Schema.decodeUnknownEither(ClientMessage)

/** Decodes one client frame, or says what is wrong with it. */
export const decodeClientMessage = (frame: string): Either.Either<ClientMessage, ServerEvent> =>
  Either.match(decodeJson(frame), {
    onLeft: () => Either.left(errorEvent("invalid_json", "frame is not valid JSON")),
    onRight: (json) =>
      Either.mapLeft(decodeMessage(json), () =>
        errorEvent(
          "unknown_message",
          "expected {type: subscribe|unsubscribe, topic: sessions|preparation}, {type: refresh}, {type: ping}, " +
            "or a terminal message (attach, keys, resize, detach)"
        ))
  })
