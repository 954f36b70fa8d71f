/**
 * What daemons write to each other's event streams: this schema as JSON, the
 * body of an entry sealed by `Seal.ts` (which names the sender).
 */
import { Either, Schema } from "effect"
import { Computer, ComputerName, Session, SessionRef } from "./Domain.js"
import type { Opened } from "./Seal.js"

export const PeerEvent = Schema.Union(
  Schema.TaggedStruct("session_updated", { session: Session }),
  Schema.TaggedStruct("session_removed", { ref: SessionRef }),
  /** All sessions of `computer`: sent when a peer becomes interested, replacing what it had. */
  Schema.TaggedStruct("sessions_snapshot", { computer: ComputerName, sessions: Schema.Array(Session) }),
  /** Sent at start and when interest changes, so peers learn of it at once. */
  Schema.TaggedStruct("heartbeat", { computer: Computer }),
  Schema.TaggedStruct("goodbye", { computer: ComputerName })
)
export type PeerEvent = typeof PeerEvent.Type

const PeerEventJson = Schema.parseJson(PeerEvent)
export const encodePeerEvent = Schema.encodeSync(PeerEventJson)
const decodeJson = Schema.decodeUnknownEither(PeerEventJson)

/** The computer an event speaks for: a peer may only speak for itself. */
const subject = (event: PeerEvent): string => {
  switch (event._tag) {
    case "session_updated":
      return event.session.computer
    case "session_removed":
      return event.ref.computer
    case "heartbeat":
      return event.computer.name
    case "sessions_snapshot":
    case "goodbye":
      return event.computer
  }
}

/** Decodes the body of an opened entry; refuses events speaking for another computer than the sender. */
export const decodePeerEvent = (opened: Opened): Either.Either<PeerEvent, string> =>
  Either.flatMap(
    Either.mapLeft(decodeJson(opened.body), (e) => e.message),
    (event) =>
      subject(event) === opened.from
        ? Either.right(event)
        : Either.left(`'${opened.from}' may not speak for '${subject(event)}'`)
  )
