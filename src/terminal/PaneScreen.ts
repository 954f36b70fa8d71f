/**
 * A pane's screen as tmux has it, turned into bytes a fresh terminal can
 * replay: how the terminal state of a pane is (re)built when it starts being
 * watched, or after output was lost. Pure: the commands to send, and the
 * decoding of their answers.
 */
import { Either, Schema } from "effect"
import { quote } from "../local/ControlMode.js"

const Count = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())
const Flag = Schema.transform(Schema.Literal("0", "1"), Schema.Boolean, {
  strict: true,
  decode: (flag) => flag === "1",
  encode: (on) => (on ? "1" : "0")
})

/** What tmux says of a pane: where it is, its size, and the modes a replay must set again. */
export const PaneInfo = Schema.Struct({
  pane: Schema.String.pipe(Schema.pattern(/^%\d+$/)),
  window: Schema.String.pipe(Schema.pattern(/^@\d+$/)),
  cols: Count,
  rows: Count,
  cursorX: Count,
  cursorY: Count,
  alternate: Flag,
  cursorVisible: Flag,
  applicationCursor: Flag,
  applicationKeypad: Flag,
  insert: Flag,
  wrap: Flag,
  scrollTop: Count,
  scrollBottom: Count,
  /** The pane's output already goes to a `pipe-pane` command (the user's, or this daemon's). */
  piped: Flag
})
export type PaneInfo = typeof PaneInfo.Type

const infoColumns: ReadonlyArray<readonly [keyof PaneInfo, string]> = [
  ["pane", "#{pane_id}"],
  ["window", "#{window_id}"],
  ["cols", "#{pane_width}"],
  ["rows", "#{pane_height}"],
  ["cursorX", "#{cursor_x}"],
  ["cursorY", "#{cursor_y}"],
  ["alternate", "#{alternate_on}"],
  ["cursorVisible", "#{cursor_flag}"],
  ["applicationCursor", "#{keypad_cursor_flag}"],
  ["applicationKeypad", "#{keypad_flag}"],
  ["insert", "#{insert_flag}"],
  ["wrap", "#{wrap_flag}"],
  ["scrollTop", "#{scroll_region_upper}"],
  ["scrollBottom", "#{scroll_region_lower}"],
  ["piped", "#{pane_pipe}"]
]

const decodeInfo = Schema.decodeUnknownEither(PaneInfo)

export const parsePaneInfo = (line: string): Either.Either<PaneInfo, string> => {
  const values = line.split("\t")
  if (values.length !== infoColumns.length) return Either.left(`expected ${infoColumns.length} fields, got ${values.length}`)
  return Either.mapLeft(
    decodeInfo(Object.fromEntries(infoColumns.map(([key], i) => [key, values[i]]))),
    (error) => error.message
  )
}

/** The active pane of a session (`$3`) or a given pane (`%3`). */
export const paneInfoCommand = (target: string): string =>
  `display-message -p -t ${quote(target)} ${quote(infoColumns.map(([, format]) => format).join("\t"))}`

/**
 * The captures a replay needs, to be sent back to back so tmux runs them
 * together: the screen the pane shows with up to `scrollback` lines of
 * history, and, when a full-screen program has the alternate screen up, first
 * the normal screen under it (whose history tmux does not keep apart).
 */
export const captureCommands = (info: PaneInfo, scrollback: number): ReadonlyArray<string> =>
  info.alternate
    ? [`capture-pane -p -e -a -q -t ${quote(info.pane)}`, `capture-pane -p -e -t ${quote(info.pane)}`]
    : [`capture-pane -p -e -t ${quote(info.pane)} -S ${-scrollback}`]

const RESET = "\u001b[0m"
const NEWLINE = `${RESET}\r\n`

/**
 * Bytes that bring an empty terminal of the pane's size to the pane's screen:
 * the lines (older ones scroll into the terminal's scrollback), the alternate
 * screen if it is up, then the cursor and the modes keys depend on.
 */
export const replayOf = (
  info: PaneInfo,
  normal: ReadonlyArray<string>,
  alternate: ReadonlyArray<string> | undefined
): string => {
  let out = normal.join(NEWLINE) + RESET
  if (info.alternate && alternate !== undefined) out += `\u001b[?1049h\u001b[H\u001b[2J${alternate.join(NEWLINE)}${RESET}`
  if (info.scrollTop !== 0 || info.scrollBottom !== info.rows - 1) out += `\u001b[${info.scrollTop + 1};${info.scrollBottom + 1}r`
  out += `\u001b[${info.cursorY + 1};${info.cursorX + 1}H`
  if (info.applicationCursor) out += "\u001b[?1h"
  if (info.applicationKeypad) out += "\u001b="
  if (!info.cursorVisible) out += "\u001b[?25l"
  if (info.insert) out += "\u001b[4h"
  if (!info.wrap) out += "\u001b[?7l"
  return out
}
