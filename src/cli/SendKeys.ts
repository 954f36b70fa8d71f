/**
 * `termfleet send --keys SESSION KEY...`: tmux key names typed into a
 * session of any computer's daemon, without attaching to it (its size is
 * left alone). Over `/ws`: the session is found among the daemon's sessions
 * first (`FindSession.ts`: so the daemon follows other computers' sessions),
 * then sent one `keys` message followed by a `ping`: the daemon handles a
 * client's messages in order, and a `keys` message only once tmux took the
 * keys (for a session of another computer, once that computer says so,
 * within 5 s), so the `pong` says they were typed, and a `terminal_closed`
 * before it says why not.
 */
import { Effect, Either, Schema } from "effect"
import WebSocket from "ws"
import { TerminalClosed } from "../domain/TerminalProtocol.js"
import { findSession, SessionFrames } from "./FindSession.js"
import { type ClientFailure, type Daemon, DaemonFailed, DaemonUnreachable } from "./FleetClient.js"
import { webSocketUrl } from "./Watch.js"

const Answer = Schema.Union(
  Schema.Struct({ event: Schema.Literal("pong") }),
  Schema.Struct({ event: Schema.Literal("terminal_closed"), data: TerminalClosed }),
  ...SessionFrames
)
const decodeAnswer = Schema.decodeUnknownEither(Schema.parseJson(Answer))

export const sendKeys = (daemon: Daemon, sessionId: string, bytes: Buffer): Effect.Effect<void, ClientFailure> =>
  Effect.async<void, ClientFailure>((resume) => {
    const ws = new WebSocket(webSocketUrl(daemon.url), { headers: daemon.headers })
    let done = false
    const finish = (result: Effect.Effect<void, ClientFailure>) => {
      if (done) return
      done = true
      finding.cancel()
      ws.terminate()
      resume(result)
    }
    const send = (message: unknown) => ws.send(JSON.stringify(message))
    const finding = findSession(sessionId, send, () => {
      send({ type: "keys", sessionId, data: bytes.toString("base64"), encoding: "base64" })
      send({ type: "ping" })
    })
    ws.on("open", finding.start)
    ws.on("message", (raw) => {
      const answer = decodeAnswer(raw.toString())
      if (Either.isLeft(answer)) return
      const frame = answer.right
      switch (frame.event) {
        case "pong":
          return finish(Effect.void)
        case "terminal_closed":
          if (frame.data.sessionId === sessionId) finish(Effect.fail(new DaemonFailed({ message: frame.data.message })))
          return
        default:
          return finding.frame(frame)
      }
    })
    ws.on("unexpected-response", (_request, response) =>
      finish(Effect.fail(new DaemonFailed({ message: `the daemon refused the connection (HTTP ${response.statusCode})` }))))
    ws.on("error", () => finish(Effect.fail(new DaemonUnreachable({ url: daemon.url, reason: "no WebSocket connection" }))))
    ws.on("close", () => finish(Effect.fail(new DaemonUnreachable({ url: daemon.url, reason: "the connection closed" }))))
    return Effect.sync(() => finish(Effect.void))
  })
