/**
 * tmux control mode (`tmux -C`), the protocol: what a control client writes
 * back, line by line, decoded by pure functions. A line is bytes up to '\n';
 * pane output inside it escapes bytes below ' ' and '\' as octal `\ooo`, so a
 * raw '\n' only ever ends a line, and bytes above 0x7f (UTF-8) come as they
 * are, possibly split between two lines.
 *
 * Each command sent gets one block, `%begin <time> <number> <flags>`, its
 * output lines, then `%end` or `%error` with the same numbers; `flags` is 1
 * for commands the client sent itself (the command that attached it answers
 * with flags 0). Notifications (`%output`, `%sessions-changed`, ...) never
 * come inside a block.
 */

/** What one line outside a block means. */
export type Notification =
  | { readonly _tag: "Output"; readonly pane: string; readonly data: Buffer }
  | { readonly _tag: "Pause"; readonly pane: string }
  | { readonly _tag: "Continue"; readonly pane: string }
  | { readonly _tag: "SessionsChanged" }
  | { readonly _tag: "SessionRenamed" }
  | { readonly _tag: "LayoutChange"; readonly window: string; readonly panes: ReadonlyArray<PaneSize> }
  | { readonly _tag: "WindowsChanged" }
  | { readonly _tag: "SubscriptionChanged"; readonly name: string; readonly value: string }
  | { readonly _tag: "Exit"; readonly reason: string }
  /** A notification this daemon has no use for. */
  | { readonly _tag: "Other"; readonly name: string }

export interface PaneSize {
  readonly pane: string
  readonly cols: number
  readonly rows: number
}

/** A line as the reader sees it: a block's edge, a line inside one, or a notification. */
export type ControlLine =
  | { readonly _tag: "Begin"; readonly number: number; readonly mine: boolean }
  | { readonly _tag: "End"; readonly number: number; readonly mine: boolean; readonly failed: boolean }
  | { readonly _tag: "Body"; readonly line: string }
  | Notification

const BACKSLASH = 0x5c
const ZERO = 0x30

const isOctal = (byte: number | undefined) => byte !== undefined && byte >= ZERO && byte <= ZERO + 7

/** Undoes control mode's `\ooo` escapes of `line[start..]`; the bytes come back as they were written. */
export const unescapeOutput = (line: Buffer, start: number): Buffer => {
  let at = line.indexOf(BACKSLASH, start)
  if (at === -1) return line.subarray(start)
  const out = Buffer.allocUnsafe(line.length - start)
  let length = 0
  let from = start
  while (at !== -1) {
    length += line.copy(out, length, from, at)
    if (isOctal(line[at + 1]) && isOctal(line[at + 2]) && isOctal(line[at + 3])) {
      out[length++] = ((line[at + 1]! - ZERO) << 6) | ((line[at + 2]! - ZERO) << 3) | (line[at + 3]! - ZERO)
      from = at + 4
    } else {
      // Not an escape tmux writes: kept as it came.
      out[length++] = BACKSLASH
      from = at + 1
    }
    at = line.indexOf(BACKSLASH, from)
  }
  length += line.copy(out, length, from)
  return out.subarray(0, length)
}

const blockEdge = /^%(begin|end|error) \d+ (\d+) (\d+)$/
const paneId = /^%\d+$/
const windowId = /^@\d+$/

/** `WxH,x,y,N` is a pane of the layout (N its id); containers have `{` or `[` after `x,y`. */
const layoutPane = /(\d+)x(\d+),\d+,\d+,(\d+)/g

export const layoutPanes = (layout: string): ReadonlyArray<PaneSize> =>
  [...layout.matchAll(layoutPane)].map(([, cols, rows, id]) => ({ pane: `%${id}`, cols: Number(cols), rows: Number(rows) }))

/** The `value` after the first ` : ` of an `%extended-output` or `%subscription-changed` line. */
const afterColon = (line: Buffer): number => {
  const at = line.indexOf(" : ")
  return at === -1 ? -1 : at + 3
}

const OUTPUT = Buffer.from("%output ")
const EXTENDED_OUTPUT = Buffer.from("%extended-output ")

const startsWith = (line: Buffer, prefix: Buffer) => line.length >= prefix.length && line.compare(prefix, 0, prefix.length, 0, prefix.length) === 0

/** Decodes a notification; output is the hot path, so it is checked first and never turned into a string whole. */
export const parseNotification = (line: Buffer): Notification => {
  if (startsWith(line, OUTPUT)) {
    const space = line.indexOf(0x20, OUTPUT.length)
    const pane = line.toString("latin1", OUTPUT.length, space === -1 ? line.length : space)
    if (space !== -1 && paneId.test(pane)) return { _tag: "Output", pane, data: unescapeOutput(line, space + 1) }
  } else if (startsWith(line, EXTENDED_OUTPUT)) {
    const space = line.indexOf(0x20, EXTENDED_OUTPUT.length)
    const pane = line.toString("latin1", EXTENDED_OUTPUT.length, space === -1 ? line.length : space)
    const value = afterColon(line)
    if (space !== -1 && value !== -1 && paneId.test(pane)) return { _tag: "Output", pane, data: unescapeOutput(line, value) }
  }
  const text = line.toString("utf8")
  const [name = "", ...args] = text.split(" ")
  switch (name) {
    case "%pause":
    case "%continue":
      if (args.length === 1 && paneId.test(args[0]!)) {
        return { _tag: name === "%pause" ? "Pause" : "Continue", pane: args[0]! }
      }
      break
    case "%sessions-changed":
      return { _tag: "SessionsChanged" }
    case "%session-renamed":
      return { _tag: "SessionRenamed" }
    case "%layout-change":
      if (args.length >= 2 && windowId.test(args[0]!)) {
        return { _tag: "LayoutChange", window: args[0]!, panes: layoutPanes(args[1]!) }
      }
      break
    case "%window-add":
    case "%window-close":
    case "%unlinked-window-close":
      return { _tag: "WindowsChanged" }
    case "%subscription-changed": {
      const value = afterColon(line)
      if (args.length >= 1 && value !== -1) {
        return { _tag: "SubscriptionChanged", name: args[0]!, value: line.toString("utf8", value) }
      }
      break
    }
    case "%exit":
      return { _tag: "Exit", reason: args.join(" ") }
  }
  return { _tag: "Other", name }
}

/**
 * Reads one control client's lines in order: tells block edges and the lines
 * inside blocks from notifications. Holds only whether a block is open.
 */
export class ControlReader {
  private inBlock = false

  read(line: Buffer): ControlLine {
    if (line[0] === 0x25 /* % */) {
      const edge = blockEdge.exec(line.toString("latin1", 0, Math.min(line.length, 64)))
      if (edge !== null && line.length <= 64) {
        const [, kind, number, flags] = edge
        if (kind === "begin" && !this.inBlock) {
          this.inBlock = true
          return { _tag: "Begin", number: Number(number), mine: flags === "1" }
        }
        if (kind !== "begin" && this.inBlock) {
          this.inBlock = false
          return { _tag: "End", number: Number(number), mine: flags === "1", failed: kind === "error" }
        }
      }
      if (!this.inBlock) return parseNotification(line)
    }
    return this.inBlock ? { _tag: "Body", line: line.toString("utf8") } : parseNotification(line)
  }
}

/**
 * An argument for a command line written to a control client, which tmux
 * parses as it would a configuration file: inside single quotes nothing is
 * special ('#' would otherwise start a comment, ';' end the command).
 */
export const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`

/** `send-keys -H`: bytes as hex, which no parser can misread; at most `perCommand` bytes per command. `target`: a pane (`%3`) or a session (`$3`, its active pane). */
export const sendBytesCommands = (target: string, bytes: Uint8Array, perCommand = 2048): ReadonlyArray<string> => {
  const commands: Array<string> = []
  for (let at = 0; at < bytes.length; at += perCommand) {
    const hex = Buffer.from(bytes.subarray(at, at + perCommand)).toString("hex").replace(/(..)(?!$)/g, "$1 ")
    commands.push(`send-keys -t ${quote(target)} -H ${hex}`)
  }
  return commands
}
