/**
 * `termfleet attach SESSION`: a session of any computer, full screen in this
 * terminal, through the daemon's `/ws` live-terminal protocol. The terminal
 * is put in raw mode, so every key (Ctrl-C, Esc, arrows) goes to the session;
 * Ctrl-] detaches. Its size follows this terminal's (SIGWINCH). A lost
 * connection is resumed from the last position, so nothing is missed or
 * shown twice. On exit the terminal is restored.
 *
 * The daemon knows the sessions of other computers only while a client of it
 * follows them: attach first subscribes to `sessions` until its session
 * shows up, then attaches to it on its computer.
 */
import { Effect, Either, Schema } from "effect"
import WebSocket from "ws"
import { TerminalClosed, TerminalOutput, TerminalResized, TerminalSnapshot } from "../domain/TerminalProtocol.js"
import { type ClientFailure, type Daemon, DaemonFailed, DaemonUnreachable } from "./FleetClient.js"
import { findSession, SessionFrames } from "./FindSession.js"
import { webSocketUrl } from "./Watch.js"

/** Ctrl-]: the key that detaches (as telnet's escape). */
export const DETACH_KEY = 0x1d

const Frame = Schema.Union(
  Schema.Struct({ event: Schema.Literal("terminal_snapshot"), data: TerminalSnapshot }),
  Schema.Struct({ event: Schema.Literal("terminal_output"), data: TerminalOutput }),
  Schema.Struct({ event: Schema.Literal("terminal_resized"), data: TerminalResized }),
  Schema.Struct({ event: Schema.Literal("terminal_closed"), data: TerminalClosed }),
  // Only to learn which computer the session is on.
  ...SessionFrames
)
const decodeFrame = Schema.decodeUnknownEither(Schema.parseJson(Frame))

/** Back to how the terminal was: the main screen, a visible cursor, no mouse or keypad modes the session turned on. */
const RESTORE = "\u001b[0m\u001b[?1049l\u001b[?25h\u001b[?1l\u001b>\u001b[?1000l\u001b[?1002l\u001b[?1003l\u001b[?1006l\u001b[?2004l\r\n"
/** A screen of its own, cleared, for the session's snapshot to be drawn on. */
const ENTER = "\u001b[?1049h\u001b[H\u001b[2J"

/** How long a lost connection is tried again before giving up. */
const RECONNECT_FOR_MILLIS = 30_000

const unreachable = (url: string) => new DaemonUnreachable({ url, reason: "no WebSocket connection" })

/** The session's computer left the fleet while attached (its daemon tells why). Exit 6. */
export class ComputerGone extends Schema.TaggedError<ComputerGone>()("ComputerGone", { message: Schema.String }) {}

export const attach = (daemon: Daemon, sessionId: string): Effect.Effect<void, ClientFailure | ComputerGone> =>
  Effect.async<void, ClientFailure | ComputerGone>((resume) => {
    const stdin = process.stdin
    const stdout = process.stdout
    if (!stdin.isTTY || !stdout.isTTY) {
      resume(Effect.fail(new DaemonFailed({ message: "attach needs a terminal (its input and output are not one)" })))
      return
    }
    let position: string | undefined
    let computer: string | undefined
    let ws: WebSocket | undefined
    let attached = false
    let done = false
    let lostAt: number | undefined
    const size = () => ({ cols: Math.max(2, stdout.columns || 80), rows: Math.max(2, stdout.rows || 24) })
    const send = (message: unknown) => {
      if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message))
    }

    const finish = (result: Effect.Effect<void, ClientFailure | ComputerGone>) => {
      if (done) return
      done = true
      finding.cancel()
      stdin.off("data", onKeys)
      stdout.off("resize", onResize)
      if (stdin.isTTY) stdin.setRawMode(false)
      stdin.pause()
      if (attached) stdout.write(RESTORE)
      ws?.terminate()
      resume(result)
    }

    const onKeys = (chunk: Buffer) => {
      const detachAt = chunk.indexOf(DETACH_KEY)
      const keys = detachAt === -1 ? chunk : chunk.subarray(0, detachAt)
      if (keys.length > 0) send({ type: "keys", sessionId, data: keys.toString("base64"), encoding: "base64" })
      if (detachAt !== -1) {
        send({ type: "detach", sessionId })
        finish(Effect.void)
      }
    }
    const onResize = () => send({ type: "resize", sessionId, ...size() })

    const attachNow = () =>
      send({ type: "attach", sessionId, ...(computer === undefined ? {} : { computer }), ...size(), ...(position === undefined ? {} : { from: position }) })
    const finding = findSession(sessionId, send, (found) => {
      computer = found
      attachNow()
    })

    const onFrame = (raw: WebSocket.RawData) => {
      const frame = decodeFrame(raw.toString())
      if (Either.isLeft(frame)) return
      if (frame.right.event === "sessions_initial" || frame.right.event === "session_updated") return finding.frame(frame.right)
      if (frame.right.data.sessionId !== sessionId) return
      const { data, event } = frame.right
      switch (event) {
        case "terminal_snapshot":
          if (!attached) {
            attached = true
            stdin.setRawMode(true)
            stdin.resume()
            stdin.on("data", onKeys)
            stdout.on("resize", onResize)
          }
          stdout.write(ENTER + (data as TerminalSnapshot).data)
          position = (data as TerminalSnapshot).position
          return
        case "terminal_output":
          stdout.write(Buffer.from((data as TerminalOutput).data, "base64"))
          position = (data as TerminalOutput).position
          return
        case "terminal_resized":
          return
        case "terminal_closed": {
          const closed = data as TerminalClosed
          return finish(
            closed.reason === "ended" || closed.reason === "detached"
              ? Effect.void
              : closed.reason === "offline"
              ? Effect.fail(new ComputerGone({ message: closed.message }))
              : Effect.fail(new DaemonFailed({ message: closed.message }))
          )
        }
      }
    }

    let everOpened = false
    const connect = () => {
      const socket = new WebSocket(webSocketUrl(daemon.url), { headers: daemon.headers })
      ws = socket
      socket.on("open", () => {
        everOpened = true
        lostAt = undefined
        if (computer !== undefined) return attachNow()
        finding.start()
      })
      socket.on("message", onFrame)
      socket.on("unexpected-response", (_request, response) =>
        finish(Effect.fail(new DaemonFailed({ message: `the daemon refused the connection (HTTP ${response.statusCode})` }))))
      socket.on("error", () => {})
      socket.on("close", () => {
        if (done) return
        if (!everOpened) return finish(Effect.fail(unreachable(daemon.url)))
        // Lost: attached again from the last position, so nothing is missed or shown twice.
        const now = Date.now()
        lostAt ??= now
        if (now - lostAt > RECONNECT_FOR_MILLIS) return finish(Effect.fail(unreachable(daemon.url)))
        setTimeout(connect, 500)
      })
    }
    connect()
    return Effect.sync(() => finish(Effect.void))
  })
