/**
 * Text for a terminal. Titles and output come from other terminals, so control
 * characters are replaced before printing: a session must not be able to
 * move the cursor, retitle the window or clear the screen of the one watching.
 */
import type { Session } from "../domain/Model.js"

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
const controlsButLines = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g

/** One line of text, safe to print. */
export const cell = (text: string): string => text.replace(controls, " ")

/** Several lines of text (newlines and tabs kept), safe to print. */
export const block = (text: string): string => text.replace(controlsButLines, "?")

export const truncate = (text: string, width: number): string =>
  width <= 0 ? "" : text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`

/** Columns padded to their widest cell; lines cut to `width`. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>, width = Infinity): ReadonlyArray<string> => {
  const cells = rows.map((row) => row.map(cell))
  const widths = cells.reduce<Array<number>>(
    (acc, row) => row.map((text, i) => Math.max(acc[i] ?? 0, text.length)),
    []
  )
  return cells.map((row) =>
    truncate(row.map((text, i) => (i === row.length - 1 ? text : text.padEnd(widths[i] ?? 0))).join("  ").trimEnd(), width)
  )
}

export const ago = (millis: number, now: number): string => {
  const seconds = Math.max(0, Math.round((now - millis) / 1000))
  if (seconds < 5) return "just now"
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h ago`
  return `${Math.floor(seconds / 86_400)}d ago`
}

/** The last line of a session's output that has something on it. */
export const lastLine = (output: string): string =>
  output.split("\n").map((line) => line.trim()).filter((line) => line.length > 0).at(-1) ?? ""

export const titleOf = (session: Session): string => (session.title === "" ? session.sessionId : session.title)

export const byComputerThenAge = (a: Session, b: Session): number =>
  a.computer.localeCompare(b.computer) || a.createdAt - b.createdAt || a.sessionId.localeCompare(b.sessionId)
