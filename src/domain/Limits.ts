/**
 * Every limit termfleet applies, in one place (the README's "Limits" table
 * lists them). What a client sends is bounded by the Schema refinements
 * below, used by the payloads that carry it (the REST API's, so
 * `/openapi.json` states them; the requests between daemons; the WebSocket's
 * messages): it is checked once, where the payload is decoded, and nowhere
 * else. The daemon's own bounds (frames, bodies, clients, queues) are the
 * defaults of its settings, which tests may lower.
 */
import { Schema } from "effect"
import { HOOK_INPUT_BYTES, HOOK_PAYLOAD_BYTES } from "../agent/HookWire.js"

export const Limits = {
  /** Text typed into a session by one request, in UTF-8 bytes. */
  inputBytes: 16 * 1024,
  /** A session's title, in characters. */
  titleChars: 100,
  /** The command a session starts with, in characters. */
  commandChars: 4096,
  /** Lines of a session's output one may ask for, and how many when one does not say. */
  outputLines: 2000,
  defaultOutputLines: 50,
  /** `lastOutput`, the tail of its pane every session carries: lines, then characters. */
  lastOutputLines: 20,
  lastOutputChars: 4096,
  /** `lastInput`: the start of the last input, in characters (an option tmux gives back on every poll). */
  lastInputChars: 1024,
  /** tmux refuses a command whose arguments exceed its 16 KiB message ("command too long"). */
  tmuxCommandBytes: 16_000,
  /** A terminal's size, in character cells, as viewers and tmux accept it. */
  terminalCells: { min: 2, max: 1000 },
  /** Terminals one WebSocket client may have attached at once. */
  attachedTerminals: 16,
  /** WebSocket messages a client may have waiting to be handled; more closes it (1008). */
  inboxMessages: 64,
  /** Requests to other daemons waiting for their answer at once (the calls a reply stream's reader keeps by id). */
  pendingPeerRequests: 16,
  /** A watched terminal (src/terminal): output bytes held for viewers that resume or wait for their snapshot. */
  terminalHeldBytes: 4 * 1024 * 1024,
  /**
   * Output its headless terminal may have left to parse; past it the state is rebuilt from tmux instead. As
   * many as are held: the bytes waiting to be parsed are held ones, so the bound costs no memory of its own.
   */
  terminalUnparsedBytes: 4 * 1024 * 1024,
  /**
   * Output bytes per `terminal_output` frame, and per entry of a live terminal streamed to another computer
   * (whose stream keeps `terminalHeldBytes` of them): more waiting go as several.
   */
  terminalOutputFrameBytes: 64 * 1024,
  /** Lines of history kept in its headless terminal and in snapshots. */
  terminalScrollback: 1000,
  /** Sessions of other computers this daemon's viewers may watch at once (listed in its heartbeat): clients × their terminals. */
  watchedTerminals: 4096,
  /** Keys, sizes and asks waiting to go to other computers (Redis away): more are dropped. */
  peerTerminalInputs: 4096,
  /** Lines of history a live terminal keeps in the dashboard. */
  dashboardScrollback: 5000,
  /** Commands a tmux control client may have waiting for their answer; more is a bug or a tmux that stopped answering. */
  controlPendingCommands: 4096,
  /** A line tmux writes in control mode; none comes near this. */
  controlLineBytes: 4 * 1024 * 1024,
  /** An agent's one-line summary (a waiting reason, a last message), in characters. */
  summaryChars: 200,
  /** A hook payload as the hook command sends it, in bytes (a larger one is cut to fit), and as it reads it (a larger one is not from an agent). */
  hookBytes: HOOK_PAYLOAD_BYTES,
  hookInputBytes: HOOK_INPUT_BYTES,
  /** `--notify-url` events waiting to be sent (past it the oldest is dropped), and sent at once. */
  notifyQueue: 64,
  notifySenders: 4,
  /** An answer the command line reads from a daemon, in bytes (10,000 sessions are about 4 MB). */
  clientAnswerBytes: 64 * 1024 * 1024,
  /** How far out of order one sender's stream entries may arrive (two fibers may XADD in either order). */
  replayWindow: 1024
} as const

/** The daemon's bounds on its clients and streams: `DaemonSettings.limits`, defaults below. */
export interface ServerLimits {
  /** Frames that may wait unsent in a slow WebSocket client's socket before it is closed (1013). */
  readonly clientQueue: number
  /** Bytes a WebSocket client may leave unread in the socket before it is closed (1013). */
  readonly clientBufferBytes: number
  /** Largest WebSocket frame accepted from a client, in bytes (bigger: close 1009). */
  readonly maxFrameBytes: number
  /** Concurrent WebSocket clients per daemon. */
  readonly maxClients: number
  /** Approximate length each peer's event stream is trimmed to. */
  readonly streamMaxLen: number
  /** Entries read per blocking XREAD. */
  readonly readBatch: number
  /** Largest HTTP request body, in bytes. */
  readonly maxBodyBytes: number
  /** Writes (create, input, end) accepted per second, with bursts up to `writeBurst`; more get 429. */
  readonly writesPerSecond: number
  readonly writeBurst: number
  /** Agents' hook calls, counted apart from the writes (several per tool call, from every agent at once); more get 429. */
  readonly hooksPerSecond: number
  readonly hookBurst: number
  /** `--notify-url`: each try's timeout, the retries after a failed one, the first backoff (doubling). */
  readonly notifyTimeoutMillis: number
  readonly notifyRetries: number
  readonly notifyBackoffMillis: number
}

export const defaultLimits: ServerLimits = {
  clientQueue: 1024,
  clientBufferBytes: 8 * 1024 * 1024,
  maxFrameBytes: 64 * 1024,
  maxClients: 256,
  streamMaxLen: 10_000,
  readBatch: 512,
  maxBodyBytes: 256 * 1024,
  writesPerSecond: 20,
  writeBurst: 60,
  hooksPerSecond: 100,
  hookBurst: 300,
  notifyTimeoutMillis: 5000,
  notifyRetries: 3,
  notifyBackoffMillis: 500
}

const controlChar = /[\u0000-\u001f\u007f-\u009f]/

/** Counts characters as JSON Schema's `maxLength` does (code points), so the OpenAPI bound is the one checked. */
const charCount = (text: string) => {
  let count = 0
  for (const _ of text) count++
  return count
}

/** UTF-8 bytes of `text`, without Node's Buffer (the dashboard imports this module too). */
const utf8Bytes = (text: string) => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: one code point of four bytes.
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/** Text typed into a session: 1 byte to `inputBytes` of UTF-8, no NUL (tmux would cut it there). */
export const InputText = Schema.String.pipe(
  Schema.filter((text) => text.length > 0 || "input text is empty", { jsonSchema: { minLength: 1 } }),
  Schema.filter((text) => utf8Bytes(text) <= Limits.inputBytes || `input text is at most ${Limits.inputBytes} bytes of UTF-8`, {
    // A character is at least one byte, so this bound always holds; the bytes are checked as well.
    jsonSchema: { maxLength: Limits.inputBytes },
    description: `at most ${Limits.inputBytes} bytes of UTF-8`
  }),
  Schema.filter((text) => !text.includes("\u0000") || "input text must not contain NUL", { jsonSchema: { pattern: "^[^\\u0000]*$" } })
)

/** A session's title: at most `titleChars` characters, no control characters, well-formed (empty: a default is made). */
export const Title = Schema.String.pipe(
  Schema.filter((title) => charCount(title) <= Limits.titleChars || `a title is at most ${Limits.titleChars} characters`, {
    jsonSchema: { maxLength: Limits.titleChars }
  }),
  Schema.filter((title) => !controlChar.test(title) || "a title must not contain control characters", {
    jsonSchema: { pattern: "^[^\\u0000-\\u001f\\u007f-\\u009f]*$" }
  }),
  // Half of a surrogate pair has no UTF-8 form: tmux would keep U+FFFD, and the title would not come back as given.
  Schema.filter((title) => !/\p{Cs}/u.test(title) || "a title must be valid Unicode (no half of a surrogate pair)")
)

/** The command a session runs: at most `commandChars` characters, no NUL (empty: the shell). */
export const Command = Schema.String.pipe(
  Schema.filter((command) => charCount(command) <= Limits.commandChars || `a command is at most ${Limits.commandChars} characters`, {
    jsonSchema: { maxLength: Limits.commandChars }
  }),
  Schema.filter((command) => !command.includes("\u0000") || "a command must not contain NUL", { jsonSchema: { pattern: "^[^\\u0000]*$" } })
)

/** How many lines of a session's output one may ask for (REST, command line and between daemons). */
export const OutputLines = Schema.Number.pipe(
  Schema.int(),
  Schema.between(1, Limits.outputLines, { message: () => `lines is a whole number from 1 to ${Limits.outputLines}` })
)

/** A terminal's width or height in character cells. */
export const TerminalCells = Schema.Number.pipe(Schema.int(), Schema.between(Limits.terminalCells.min, Limits.terminalCells.max))
