/**
 * Live terminals on `/ws`: the messages a viewer sends to attach to a session
 * of any computer, type into it, resize and detach, and the frames it gets
 * back. Part of the WebSocket protocol (`Protocol.ts` takes these into its
 * unions); described in the README's protocol section.
 *
 * Positions: a pane's output is a byte stream; a position names a point in it
 * as `"<epoch>-<offset>"`. `offset` counts the bytes since `epoch`, which
 * changes whenever the owner starts following the pane afresh (it restarted,
 * or lost track of it): a position of another epoch is unknown, and a viewer
 * offering one gets a fresh snapshot. Positions are also the ids of the
 * pane's Redis stream entries, so they compare as Redis ids do.
 */
import { Schema } from "effect"
import { TerminalCells } from "./Limits.js"
import { ComputerName } from "./Model.js"

export const Position = Schema.String.pipe(
  Schema.pattern(/^\d{1,15}-\d{1,15}$/, { message: () => "a position is '<epoch>-<offset>'" })
)
export type Position = typeof Position.Type

export const parsePosition = (position: Position): readonly [epoch: number, offset: number] => {
  const dash = position.indexOf("-")
  return [Number(position.slice(0, dash)), Number(position.slice(dash + 1))]
}

export const formatPosition = (epoch: number, offset: number): Position => `${epoch}-${offset}`

export const Cols = TerminalCells
export const Rows = TerminalCells

export const TerminalSessionId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/))

export const TerminalMessage = Schema.Union(
  /**
   * Start (or resume) watching a session with the viewer's size. `from`: the
   * last position this viewer applied; if the owner still holds everything
   * after it, the viewer gets exactly that, else a fresh snapshot.
   */
  Schema.Struct({
    type: Schema.Literal("attach"),
    sessionId: TerminalSessionId,
    computer: Schema.optional(ComputerName),
    cols: Cols,
    rows: Rows,
    from: Schema.optional(Position)
  }),
  /**
   * Bytes typed into the pane, as they are: control keys (`"\u0003"`), escape
   * sequences (`"\u001b[A"`), pastes, any UTF-8 text. `data` is text sent as
   * its UTF-8 bytes; with `encoding: "base64"` it is raw bytes in base64 (for
   * the odd non-UTF-8 sequence, such as legacy mouse reports).
   */
  Schema.Struct({
    type: Schema.Literal("keys"),
    sessionId: TerminalSessionId,
    data: Schema.String.pipe(Schema.minLength(1)),
    encoding: Schema.optional(Schema.Literal("utf8", "base64"))
  }),
  Schema.Struct({ type: Schema.Literal("resize"), sessionId: TerminalSessionId, cols: Cols, rows: Rows }),
  Schema.Struct({ type: Schema.Literal("detach"), sessionId: TerminalSessionId })
)
export type TerminalMessage = typeof TerminalMessage.Type

/** The screen at `position`: replaying `data` into an empty terminal of `cols` × `rows` gives it (colours, cursor, alternate screen, recent scrollback). */
export const TerminalSnapshot = Schema.Struct({
  sessionId: Schema.String,
  computer: ComputerName,
  position: Position,
  cols: Schema.Number,
  rows: Schema.Number,
  data: Schema.String
})
export type TerminalSnapshot = typeof TerminalSnapshot.Type

/** The pane's next bytes, in base64 (they need not be whole UTF-8 characters), ending at `position`. */
export const TerminalOutput = Schema.Struct({
  sessionId: Schema.String,
  position: Position,
  data: Schema.String
})
export type TerminalOutput = typeof TerminalOutput.Type

/** The pane's size changed (a viewer resized it, or a tmux client did). */
export const TerminalResized = Schema.Struct({
  sessionId: Schema.String,
  cols: Schema.Number,
  rows: Schema.Number
})
export type TerminalResized = typeof TerminalResized.Type

/**
 * Why a viewer is no longer attached: it `detached`; the session `ended` (or
 * its computer removed it); `not_found`; `unavailable`, its computer cannot be
 * reached now (try again); `offline`, its computer left the fleet: its
 * heartbeat expired, or it stopped and did not come back.
 */
export const TerminalClosedReason = Schema.Literal("detached", "ended", "not_found", "unavailable", "offline")
export type TerminalClosedReason = typeof TerminalClosedReason.Type

/** The viewer is no longer attached (`message` says why, for people). */
export const TerminalClosed = Schema.Struct({
  sessionId: Schema.String,
  reason: TerminalClosedReason,
  message: Schema.String
})
export type TerminalClosed = typeof TerminalClosed.Type
