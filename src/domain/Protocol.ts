/**
 * The WebSocket protocol of `/ws`: JSON text frames, both ways described by
 * the Schemas below. Clients send `ClientMessage`s; the daemon sends
 * `ServerEvent`s, `{"event": E, "data": ..., "seq"?: n}`, encoded with these
 * Schemas in the daemon and decoded with them by `watch`, the dashboard and
 * the tests.
 */
import { Either, Schema } from "effect"
import { Computer, ComputerName, Project, Session, SessionRef, Todo, Topic } from "./Model.js"
import { TerminalClosed, TerminalMessage, TerminalOutput, TerminalResized, TerminalSnapshot } from "./TerminalProtocol.js"

export const ClientMessage = Schema.Union(
  Schema.Struct({ type: Schema.Literal("subscribe"), topic: Topic }),
  Schema.Struct({ type: Schema.Literal("unsubscribe"), topic: Topic }),
  Schema.Struct({ type: Schema.Literal("refresh") }),
  Schema.Struct({ type: Schema.Literal("ping") }),
  ...TerminalMessage.members
)
export type ClientMessage = typeof ClientMessage.Type

export const ErrorCode = Schema.Literal("invalid_json", "unknown_message", "frame_too_large", "too_many_clients", "too_many_terminals")
export type ErrorCode = typeof ErrorCode.Type

/**
 * `seq` numbers the changes of this daemon's cache: pushed changes carry
 * theirs, initial states the last one they include. A client that has seen
 * `seq` n can drop anything numbered n or less as already known; gaps are
 * normal (changes of topics it did not subscribe to).
 */
const Seq = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

/** An event with a cache `seq` (initial states and changes). */
const numbered = <E extends string, D extends Schema.Schema.Any>(event: E, data: D) =>
  Schema.Struct({ event: Schema.Literal(event), data, seq: Seq })

/** An event outside the cache's numbering (answers, errors, terminals). */
const unnumbered = <E extends string, D extends Schema.Schema.Any>(event: E, data: D) =>
  Schema.Struct({ event: Schema.Literal(event), data })

export const SessionsInitial = numbered(
  "sessions_initial",
  Schema.Struct({ sessions: Schema.Array(Session), computers: Schema.Array(Computer) })
)
export const PreparationInitial = numbered(
  "preparation_initial",
  Schema.Struct({ projects: Schema.Array(Project), todos: Schema.Array(Todo) })
)

/** The events of a cache change, one per change. */
export const ChangeEvent = Schema.Union(
  numbered("session_updated", Session),
  numbered("session_removed", SessionRef),
  numbered("computer_updated", Computer),
  numbered("computer_removed", Schema.Struct({ name: ComputerName })),
  numbered("projects_updated", Schema.Struct({ computer: ComputerName, projects: Schema.Array(Project) })),
  numbered("todos_updated", Schema.Struct({ computer: ComputerName, todos: Schema.Array(Todo) }))
)
export type ChangeEvent = typeof ChangeEvent.Type

export const TerminalEvent = Schema.Union(
  unnumbered("terminal_snapshot", TerminalSnapshot),
  unnumbered("terminal_output", TerminalOutput),
  unnumbered("terminal_resized", TerminalResized),
  unnumbered("terminal_closed", TerminalClosed)
)
export type TerminalEvent = typeof TerminalEvent.Type

export const ServerEvent = Schema.Union(
  SessionsInitial,
  PreparationInitial,
  ...ChangeEvent.members,
  unnumbered("pong", Schema.Null),
  unnumbered("error", Schema.Struct({ code: ErrorCode, message: Schema.String })),
  ...TerminalEvent.members
)
export type ServerEvent = typeof ServerEvent.Type

/** One frame's text. Built once: encoding is a plain function call, no Effect per event. */
export const encodeServerEvent: (event: ServerEvent) => string = Schema.encodeSync(Schema.parseJson(ServerEvent))

/** A frame from the daemon, or why it is not one (an event this version does not know, a bad field). */
export const decodeServerEvent = Schema.decodeUnknownEither(Schema.parseJson(ServerEvent))

/** The `sessions` of `sessions_initial`, encoded apart so many subscribers share one serialisation. */
export const encodeSessions: (sessions: ReadonlyArray<Session>) => string = Schema.encodeSync(
  Schema.parseJson(Schema.Array(Session))
)
const encodeComputers = Schema.encodeSync(Schema.parseJson(Schema.Array(Computer)))

/**
 * `sessions_initial` around sessions encoded beforehand (`encodeSessions`):
 * the same text `encodeServerEvent` gives for the same values, without
 * encoding the sessions again for every subscriber.
 */
export const encodeSessionsInitial = (sessionsJson: string, computers: ReadonlyArray<Computer>, seq: number): string =>
  `{"event":"sessions_initial","data":{"sessions":${sessionsJson},"computers":${encodeComputers(computers)}},"seq":${seq}}`

/**
 * `terminal_output`, most of the frames a flooding pane makes: the same text
 * `encodeServerEvent` gives for the same values (its fields are strings,
 * written by `JSON.stringify` as the Schema writes them), without matching
 * the union's members for every frame.
 */
export const encodeTerminalOutput = (output: TerminalOutput): string =>
  JSON.stringify({ event: "terminal_output", data: { sessionId: output.sessionId, position: output.position, data: output.data } })

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
