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

/** How long since `millis`, in one unit: `12s`, `3m`, `5h`, `2d`. */
export const lasted = (millis: number, now: number): string => {
  const seconds = Math.max(0, Math.round((now - millis) / 1000))
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86_400)}d`
}

export const ago = (millis: number, now: number): string =>
  now - millis < 4500 ? "just now" : `${lasted(millis, now)} ago`

// An agent's cell gives the state in full and as much of its summary as fits.
const AGENT_CELL_WIDTH = 48

/**
 * A session's agent in one cell: name, state, reason, how long, then the
 * summary, `claude waiting permission 2m: Bash: rm -rf build`; the screen's
 * reading follows in brackets when it contradicts the hooks; `-` for none.
 */
export const agentCell = (session: Session, now: number): string => {
  const agent = session.agent
  if (agent === undefined) return "-"
  const state = [agent.name, agent.state, ...(agent.reason === null ? [] : [agent.reason]), lasted(agent.since, now)].join(" ")
  const conflict = agent.conflict === null ? "" : ` [screen: ${[agent.conflict.state, agent.conflict.reason].filter((x) => x !== null).join(" ")}]`
  const summary = agent.summary === "" ? "" : `: ${agent.summary}`
  return truncate(cell(`${state}${conflict}${summary}`), AGENT_CELL_WIDTH)
}

/** The last line of a session's output that has something on it. */
export const lastLine = (output: string): string =>
  output.split("\n").map((line) => line.trim()).filter((line) => line.length > 0).at(-1) ?? ""

export const titleOf = (session: Session): string => (session.title === "" ? session.sessionId : session.title)

/** By code point, not `localeCompare`: its first call loads ICU's collator, a tenth of `termfleet ls`'s CPU. */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

export const byComputerThenAge = (a: Session, b: Session): number =>
  compareText(a.computer, b.computer) || a.createdAt - b.createdAt || compareText(a.sessionId, b.sessionId)
