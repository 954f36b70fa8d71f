/**
 * `termfleet wait SESSION`: blocks until the session's agent is in the state
 * asked for, on whichever computer it runs. It subscribes to `sessions` on
 * the daemon's `/ws` (its cache holds every computer's sessions) and looks
 * at the session on the initial state and on every change pushed after:
 * nothing is polled, and a state already reached ends the wait at once.
 */
import { Duration, Effect, Option, Schema } from "effect"
import WebSocket from "ws"
import type { AgentStateName, Session } from "../domain/Model.js"
import { type ClientFailure, type Daemon, DaemonFailed, DaemonUnreachable } from "./FleetClient.js"
import { applyFrame, decodeFrame, emptyWatchState, webSocketUrl } from "./Watch.js"

/** The session ended, or its agent exited, before reaching the state; or there is no such session. Exit 4. */
export class SessionGone extends Schema.TaggedError<SessionGone>()("SessionGone", { message: Schema.String }) {}

/** The state was not reached within `--timeout`. Exit 5. */
export class WaitTimedOut extends Schema.TaggedError<WaitTimedOut>()("WaitTimedOut", { message: Schema.String }) {}

/**
 * How long a session missing from the daemon's cache is waited for before it
 * is called unknown: one just started on another computer through this
 * daemon reaches its cache over Redis a moment after `new` answered.
 */
const UNKNOWN_SESSION_GRACE_MILLIS = 5000

/** What ends the wait: one state, or (none given) the agent's turn over, `waiting` or `done`. */
const reached = (until: Option.Option<AgentStateName>, state: AgentStateName) =>
  Option.match(until, { onNone: () => state === "waiting" || state === "done", onSome: (wanted) => state === wanted })

export const waitFor = (
  daemon: Daemon,
  sessionId: string,
  until: Option.Option<AgentStateName>,
  timeout: Option.Option<Duration.Duration>
): Effect.Effect<Session, ClientFailure | SessionGone | WaitTimedOut> => {
  const waiting = Effect.async<Session, ClientFailure | SessionGone>((resume) => {
    const ws = new WebSocket(webSocketUrl(daemon.url), { headers: daemon.headers })
    let state = emptyWatchState
    let initial = false
    let seen = false
    let grace: ReturnType<typeof setTimeout> | undefined
    let done = false
    const finish = (result: Effect.Effect<Session, ClientFailure | SessionGone>) => {
      if (done) return
      done = true
      clearTimeout(grace)
      ws.terminate()
      resume(result)
    }
    const gone = (message: string) => finish(Effect.fail(new SessionGone({ message })))
    const look = () => {
      const session = [...state.sessions.values()].find((s) => s.sessionId === sessionId)
      if (session === undefined) {
        if (seen) return gone(`session '${sessionId}' ended`)
        grace ??= setTimeout(() => gone(`no session '${sessionId}'`), UNKNOWN_SESSION_GRACE_MILLIS)
        return
      }
      seen = true
      clearTimeout(grace)
      const agent = session.agent
      if (agent === undefined) return
      if (reached(until, agent.state)) return finish(Effect.succeed(session))
      if (agent.state === "exited") gone(`the agent of session '${sessionId}' exited`)
    }
    ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", topic: "sessions" })))
    ws.on("message", (raw) => {
      const frame = decodeFrame(raw.toString())
      if (Option.isNone(frame)) return
      state = applyFrame(state, frame.value)
      initial ||= frame.value.event === "sessions_initial"
      if (initial) look()
    })
    ws.on("unexpected-response", (_request, response) =>
      finish(Effect.fail(new DaemonFailed({ message: `the daemon refused the connection (HTTP ${response.statusCode})` }))))
    ws.on("error", () => finish(Effect.fail(new DaemonUnreachable({ url: daemon.url, reason: "no WebSocket connection" }))))
    ws.on("close", () => finish(Effect.fail(new DaemonUnreachable({ url: daemon.url, reason: "the connection closed" }))))
    return Effect.sync(() => {
      done = true
      clearTimeout(grace)
      ws.terminate()
    })
  })
  return Option.match(timeout, {
    onNone: () => waiting,
    onSome: (duration) =>
      Effect.timeoutFail(waiting, {
        duration,
        onTimeout: () => new WaitTimedOut({ message: `session '${sessionId}' did not get there within ${Duration.format(duration)}` })
      })
  })
}
