/**
 * What daemons write to each other's event streams. An entry has two fields:
 * `from` (the sending computer) and `event` (this schema as JSON).
 */
import { Either, Schema } from "effect"
import { Computer, ComputerName, Session, SessionRef } from "./Domain.js"
import type { StreamEntry } from "./RedisClient.js"

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
const encodeJson = Schema.encodeSync(PeerEventJson)
const decodeJson = Schema.decodeUnknownEither(PeerEventJson)

export const encodePeerEvent = (from: string, event: PeerEvent): Record<string, string> => ({
  from,
  event: encodeJson(event)
})

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

export interface DecodedPeerEvent {
  readonly from: string
  readonly event: PeerEvent
}

/** Decodes a stream entry; malformed entries and entries speaking for another computer are refused. */
export const decodePeerEvent = (entry: StreamEntry): Either.Either<DecodedPeerEvent, string> => {
  const from = entry.fields["from"]
  const raw = entry.fields["event"]
  if (from === undefined || raw === undefined) return Either.left(`entry ${entry.id} lacks 'from' or 'event'`)
  return Either.flatMap(
    Either.mapLeft(decodeJson(raw), (e) => `entry ${entry.id}: ${e.message}`),
    (event) =>
      subject(event) === from
        ? Either.right({ from, event })
        : Either.left(`entry ${entry.id}: '${from}' may not speak for '${subject(event)}'`)
  )
}
