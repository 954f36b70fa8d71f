/**
 * The daemon knows the sessions of other computers only while a client of
 * it follows them. A command that names a session of any computer
 * (`attach`, `send --keys`) first subscribes to `sessions` until its session
 * shows up, which makes the daemon follow them, then acts on it; after
 * `FIND_FOR_MILLIS` without it, it acts anyway (the daemon then says why not).
 * A daemon with no live peer (local-only, or alone in its fleet) knows
 * every session there is from the start: it is not waited for.
 */
import { Schema } from "effect"
import { SessionRef } from "../domain/Model.js"

/** How long a command waits for its session to show up among the daemon's sessions. */
export const FIND_FOR_MILLIS = 5_000

/** The frames that say which computer a session is on. */
export const SessionFrames = [
  Schema.Struct({
    event: Schema.Literal("sessions_initial"),
    data: Schema.Struct({ sessions: Schema.Array(SessionRef), computers: Schema.Array(Schema.Struct({ name: Schema.String })) })
  }),
  Schema.Struct({ event: Schema.Literal("session_updated"), data: SessionRef })
] as const

type SessionFrame = typeof SessionFrames[number]["Type"]

/**
 * Follows the daemon's sessions for `sessionId`: `start` once connected
 * (`send` writes a client message), `frame` for each of those frames; `then`
 * is called once, with the session's computer if it showed up.
 */
export const findSession = (sessionId: string, send: (message: unknown) => void, then: (computer: string | undefined) => void) => {
  let finding: ReturnType<typeof setTimeout> | undefined
  const stop = (computer: string | undefined) => {
    if (finding === undefined) return
    clearTimeout(finding)
    finding = undefined
    if (computer !== undefined) send({ type: "unsubscribe", topic: "sessions" })
    then(computer)
  }
  return {
    start: () => {
      finding = setTimeout(() => stop(undefined), FIND_FOR_MILLIS)
      send({ type: "subscribe", topic: "sessions" })
    },
    frame: (frame: SessionFrame) => {
      const ref = frame.event === "sessions_initial" ? frame.data.sessions.find((s) => s.sessionId === sessionId) : frame.data
      if (ref?.sessionId === sessionId) stop(ref.computer)
      // The daemon itself is the only computer listed: no other's sessions are still to come.
      else if (frame.event === "sessions_initial" && frame.data.computers.length <= 1) stop(undefined)
    },
    cancel: () => clearTimeout(finding)
  }
}
