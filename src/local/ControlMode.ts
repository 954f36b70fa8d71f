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

/** Undoes control mode's `\ooo` escapes of `line[start..]` into `out` from `at`, which has room for them; answers where they end. */
const unescapeInto = (line: Buffer, start: number, out: Buffer, at: number): number => {
  let length = at
  let from = start
  let slash = line.indexOf(BACKSLASH, start)
  while (slash !== -1) {
    length += line.copy(out, length, from, slash)
    if (isOctal(line[slash + 1]) && isOctal(line[slash + 2]) && isOctal(line[slash + 3])) {
      out[length++] = ((line[slash + 1]! - ZERO) << 6) | ((line[slash + 2]! - ZERO) << 3) | (line[slash + 3]! - ZERO)
      from = slash + 4
    } else {
      // Not an escape tmux writes: kept as it came.
      out[length++] = BACKSLASH
      from = slash + 1
    }
    slash = line.indexOf(BACKSLASH, from)
  }
  return length + line.copy(out, length, from)
}

/** Undoes control mode's `\ooo` escapes of `line[start..]`; the bytes come back as they were written. */
export const unescapeOutput = (line: Buffer, start: number): Buffer => {
  if (line.indexOf(BACKSLASH, start) === -1) return line.subarray(start)
  const out = Buffer.allocUnsafe(line.length - start)
  return out.subarray(0, unescapeInto(line, start, out, 0))
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

/** Where an `%output` or `%extended-output` line's bytes start, and whose they are; undefined for any other line. */
const outputOf = (line: Buffer): { readonly pane: string; readonly start: number } | undefined => {
  const output = startsWith(line, OUTPUT)
  if (!output && !startsWith(line, EXTENDED_OUTPUT)) return undefined
  const after = output ? OUTPUT.length : EXTENDED_OUTPUT.length
  const space = line.indexOf(0x20, after)
  const pane = line.toString("latin1", after, space === -1 ? line.length : space)
  const start = output ? space + 1 : afterColon(line)
  return space !== -1 && start > 0 && paneId.test(pane) ? { pane, start } : undefined
}

/** Decodes a notification; output is the hot path, so it is checked first and never turned into a string whole. */
export const parseNotification = (line: Buffer): Notification => {
  const output = outputOf(line)
  if (output !== undefined) return { _tag: "Output", pane: output.pane, data: unescapeOutput(line, output.start) }
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

  /** A pane's output, outside a block: taken by an `OutputBatch` without a notification of its own. */
  output(line: Buffer): { readonly pane: string; readonly start: number } | undefined {
    return this.inBlock ? undefined : outputOf(line)
  }

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
 * The output lines of one pane that come back to back (all a read of the
 * control client holds, while a pane floods), unescaped into one buffer: the
 * pane's terminal is fed once per batch, not once per line.
 */
export class OutputBatch {
  private buffer: Buffer = Buffer.alloc(0)
  private start = 0
  private length = 0
  private pane: string | undefined

  /**
   * Adds an output line of `pane` (its bytes from `start`); `room` bounds the
   * bytes of every output line still to come before the next `take`. A line
   * of another pane than the batch's is refused (answers false): take first.
   */
  add(pane: string, line: Buffer, start: number, room: number): boolean {
    if (this.pane !== undefined && this.pane !== pane) return false
    if (this.pane === undefined) {
      this.pane = pane
      if (this.buffer.length - this.length < room) {
        this.buffer = Buffer.allocUnsafe(room)
        this.length = 0
      }
      this.start = this.length
    }
    this.length = unescapeInto(line, start, this.buffer, this.length)
    return true
  }

  /** The batch as one notification, if any; its bytes are its own (a terminal keeps them). */
  take(): Notification | undefined {
    const pane = this.pane
    if (pane === undefined) return undefined
    this.pane = undefined
    const data = this.buffer.subarray(this.start, this.length)
    // A small batch is copied out, so what a terminal keeps holds no buffer much larger than itself.
    return { _tag: "Output", pane, data: data.length * 4 < this.buffer.length ? Buffer.from(data) : data }
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
