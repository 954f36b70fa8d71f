/**
 * What daemons write to each other's event streams: this schema as JSON, the
 * body of an entry sealed by `Seal.ts` (which names the sender).
 */
import { Either, Schema } from "effect"
import { Computer, ComputerName, Project, Session, SessionRef, Todo } from "../domain/Model.js"
import { jsonBody } from "../domain/JsonBody.js"
import type { Opened } from "./Seal.js"

export const PeerEvent = Schema.Union(
  Schema.TaggedStruct("session_updated", { session: Session }),
  Schema.TaggedStruct("session_removed", { ref: SessionRef }),
  /** All sessions of `computer`: sent when a peer becomes interested, replacing what it had. */
  Schema.TaggedStruct("sessions_snapshot", { computer: ComputerName, sessions: Schema.Array(Session) }),
  /** Sent at start and when interest changes, so peers learn of it at once. */
  Schema.TaggedStruct("heartbeat", { computer: Computer }),
  Schema.TaggedStruct("goodbye", { computer: ComputerName }),
  /** All projects (todos) of `computer`, sent on change and when a peer becomes interested in `preparation`. */
  Schema.TaggedStruct("projects_updated", { computer: ComputerName, projects: Schema.Array(Project) }),
  Schema.TaggedStruct("todos_updated", { computer: ComputerName, todos: Schema.Array(Todo) }),
  /** `computer` missed some of the receiver's entries: it wants a snapshot of what it is interested in. */
  Schema.TaggedStruct("snapshot_wanted", { computer: ComputerName })
)
export type PeerEvent = typeof PeerEvent.Type

const peerEventBody = jsonBody(PeerEvent)
export const encodePeerEvent = peerEventBody.encode

/** Every computer an event speaks for, nested values included: a peer may only speak for itself. */
const subjects = (event: PeerEvent): ReadonlyArray<string> => {
  switch (event._tag) {
    case "session_updated":
      return [event.session.computer]
    case "session_removed":
      return [event.ref.computer]
    case "heartbeat":
      return [event.computer.name]
    case "goodbye":
    case "snapshot_wanted":
      return [event.computer]
    case "sessions_snapshot":
      return [event.computer, ...event.sessions.map((s) => s.computer)]
    case "projects_updated":
      return [event.computer, ...event.projects.map((p) => p.computer)]
    case "todos_updated":
      return [event.computer, ...event.todos.map((t) => t.computer)]
  }
}

/** Decodes the body of an opened entry; refuses events speaking for another computer than the sender. */
export const decodePeerEvent = (opened: Opened): Either.Either<PeerEvent, string> =>
  Either.flatMap(
    peerEventBody.decode(opened.body),
    (event) => {
      const other = subjects(event).find((name) => name !== opened.from)
      return other === undefined ? Either.right(event) : Either.left(`'${opened.from}' may not speak for '${other}'`)
    }
  )
