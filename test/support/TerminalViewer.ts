/**
 * A viewer of a live terminal over `/ws`, as the dashboard or `termfleet
 * attach` is one: it attaches to a session, replays the snapshot and every
 * output frame into a headless xterm.js terminal of its own, and keeps what
 * it got (the snapshot's text and the output bytes, in order) so a test can
 * read the screen as a person would, or count what arrived.
 */
import xtermHeadless from "@xterm/headless"
import { Effect, type Scope } from "effect"
import WebSocket from "ws"

export interface TerminalViewer {
  readonly send: (message: unknown) => Effect.Effect<void>
  /** The viewer's screen, one string per row, trailing spaces dropped; once every frame so far is replayed. */
  readonly screen: Effect.Effect<ReadonlyArray<string>>
  /** Everything this viewer was given, snapshots as their text and output as bytes (latin1 for counting). */
  readonly received: () => string
  readonly lastPosition: () => string | undefined
  /** Every frame's event, in order. */
  readonly events: () => ReadonlyArray<string>
  readonly frames: () => ReadonlyArray<{ readonly event: string; readonly data: any }>
  /** The size the daemon told this viewer last (`COLSxROWS`), by a snapshot or a resize. */
  readonly toldSize: () => string | undefined
  /** Waits, re-checking on each frame, until `until()` holds. */
  readonly waitUntil: (what: string, until: () => boolean) => Effect.Effect<void, Error>
  /** Waits until the screen shows `text`. */
  readonly waitForScreen: (text: string | RegExp) => Effect.Effect<ReadonlyArray<string>, Error>
  readonly terminate: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

const WAIT_MILLIS = 15_000

export const connectViewer = (url: string): Effect.Effect<TerminalViewer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const term = new xtermHeadless.Terminal({ cols: 80, rows: 24, scrollback: 1000, allowProposedApi: true })
    yield* Effect.addFinalizer(() => Effect.sync(() => term.dispose()))
    const frames: Array<{ event: string; data: any }> = []
    const parts: Array<string> = []
    let position: string | undefined
    const listeners = new Set<() => void>()
    const ws = yield* Effect.acquireRelease(
      Effect.async<WebSocket, Error>((resume) => {
        const ws = new WebSocket(url)
        ws.on("message", (raw) => {
          const frame = JSON.parse(raw.toString()) as { event: string; data: any }
          frames.push(frame)
          if (frame.event === "terminal_snapshot") {
            term.reset()
            term.resize(frame.data.cols, frame.data.rows)
            term.write(frame.data.data)
            parts.push(frame.data.data)
            position = frame.data.position
          } else if (frame.event === "terminal_output") {
            const bytes = Buffer.from(frame.data.data, "base64")
            term.write(bytes)
            parts.push(bytes.toString("latin1"))
            position = frame.data.position
          } else if (frame.event === "terminal_resized") {
            // In order with the output before it, which xterm parses later (as the dashboard does).
            const { cols, rows } = frame.data
            term.write("", () => term.resize(cols, rows))
          }
          for (const listener of [...listeners]) listener()
        })
        ws.once("open", () => resume(Effect.succeed(ws)))
        ws.once("error", (error) => resume(Effect.fail(error)))
      }),
      (ws) => Effect.sync(() => ws.terminate())
    )
    const parsed = Effect.async<void>((resume) => term.write("", () => resume(Effect.void)))
    const screen = Effect.map(parsed, () => {
      const buffer = term.buffer.active
      return Array.from({ length: term.rows }, (_, row) => buffer.getLine(buffer.viewportY + row)?.translateToString(true) ?? "")
    })
    const waitUntil = (what: string, until: () => boolean) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (!until()) return
          listeners.delete(check)
          resume(Effect.void)
        }
        listeners.add(check)
        check()
        return Effect.sync(() => listeners.delete(check))
      }).pipe(Effect.timeoutFail({ duration: WAIT_MILLIS, onTimeout: () => new Error(`no ${what} within ${WAIT_MILLIS / 1000} s`) }))
    const matches = (rows: ReadonlyArray<string>, text: string | RegExp) =>
      typeof text === "string" ? rows.some((row) => row.includes(text)) : text.test(rows.join("\n"))
    const send = (message: unknown) => Effect.sync(() => ws.send(JSON.stringify(message)))
    return {
      send,
      screen,
      received: () => parts.join(""),
      lastPosition: () => position,
      events: () => frames.map((frame) => frame.event),
      frames: () => frames,
      toldSize: () => {
        const told = frames.filter((frame) => frame.event === "terminal_snapshot" || frame.event === "terminal_resized").at(-1)
        return told === undefined ? undefined : `${told.data.cols}x${told.data.rows}`
      },
      waitUntil,
      waitForScreen: (text) =>
        Effect.gen(function*() {
          while (true) {
            const seen = frames.length
            const rows = yield* screen
            if (matches(rows, text)) return rows
            yield* waitUntil(`a screen showing ${text}, last:\n${rows.join("\n")}\n`, () => frames.length > seen)
          }
        }),
      terminate: Effect.sync(() => ws.terminate()),
      close: Effect.sync(() => ws.close())
    }
  })
