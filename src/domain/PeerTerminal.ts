/**
 * Live terminals between daemons. The owner of a watched session writes its
 * pane into `terminal:<owner>:<session>` (`PaneEntry`s: a snapshot, then the
 * output after it, sizes, the end); viewers' daemons write what their
 * viewers do into `terminal-input:<owner>` (`TerminalInput`), one stream per
 * owner so keys are applied in the order typed. Both are sealed entries
 * (`Seal.ts`), JSON bodies of these schemas.
 */
import { Schema } from "effect"
import { jsonBody } from "./JsonBody.js"
import { Cols, Position, Rows, TerminalClosedReason, TerminalSessionId } from "./TerminalProtocol.js"

/** Cells of a pane as tmux reports them (a viewer's size is `Cols` × `Rows`; a pane split by hand may be smaller). */
const PaneCells = Schema.Number.pipe(Schema.int(), Schema.between(1, 10_000))

export const PaneEntry = Schema.Union(
  /** The screen at `position` (`TerminalSnapshot`'s `data`): a peer's mirror of the pane starts, or starts again, here. */
  Schema.TaggedStruct("snapshot", { position: Position, cols: PaneCells, rows: PaneCells, data: Schema.String }),
  /** The pane's bytes (base64) ending at `position`: they start `data`'s length before it. */
  Schema.TaggedStruct("output", { position: Position, data: Schema.String }),
  Schema.TaggedStruct("resized", { cols: PaneCells, rows: PaneCells }),
  /** Nothing more comes: the session ended, or there is none of that id. */
  Schema.TaggedStruct("closed", { reason: TerminalClosedReason, message: Schema.String })
)
export type PaneEntry = typeof PaneEntry.Type

/** Keys typed into a pane, base64: a WebSocket message is at most 64 KiB, its bytes in base64, with room. */
export const KeysBase64 = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128 * 1024))

export const TerminalInput = Schema.Struct({
  /** As for requests: past it by more than the fleet's tolerated skew, the input is dropped unapplied. */
  deadline: Schema.Number,
  input: Schema.Union(
    /** Bytes typed into the pane; with a size, the typing viewer's, which the pane takes (the last to act sets it). */
    Schema.TaggedStruct("keys", {
      sessionId: TerminalSessionId,
      data: KeysBase64,
      size: Schema.optional(Schema.Struct({ cols: Cols, rows: Rows }))
    }),
    Schema.TaggedStruct("resize", { sessionId: TerminalSessionId, cols: Cols, rows: Rows }),
    /** A viewer's daemon wants a fresh snapshot in the pane's stream (its mirror starts, or missed entries). */
    Schema.TaggedStruct("snapshot", { sessionId: TerminalSessionId })
  )
})
export type TerminalInput = typeof TerminalInput.Type

const paneEntryBody = jsonBody(PaneEntry)
const terminalInputBody = jsonBody(TerminalInput)
export const encodePaneEntry = paneEntryBody.encode
/** An `output` entry, most of a flooding pane's: the same text `encodePaneEntry` gives (strings only), directly. */
export const encodePaneOutput = (position: typeof Position.Type, data: string): string => JSON.stringify({ _tag: "output", position, data })
export const decodePaneEntry = paneEntryBody.decode
export const encodeTerminalInput = terminalInputBody.encode
export const decodeTerminalInput = terminalInputBody.decode
