/**
 * `termfleet watch`: every session of every computer in the terminal,
 * redrawn on each event the daemon pushes over `/ws`. The state is the
 * `sessions_initial` frame patched by every later event; after a lost
 * connection it reconnects with capped backoff and the new initial frame
 * replaces the state.
 */
import * as Socket from "@effect/platform/Socket"
import { Clock, Effect, Either, Option, Queue, Ref, Schedule } from "effect"
import WebSocket from "ws"
import type { Computer, Session, SessionRef } from "../domain/Model.js"
import { decodeServerEvent, type ServerEvent } from "../domain/Protocol.js"
import { call, type ClientFailure, type Daemon } from "./FleetClient.js"
import { ClientOutput } from "./Output.js"
import { agentCell, ago, byComputerThenAge, cell, lastLine, table, titleOf, truncate } from "./Text.js"

/** A frame from the daemon, decoded with the protocol's Schema; anything else is ignored. */
export const decodeFrame = (text: string): Option.Option<ServerEvent> => Either.getRight(decodeServerEvent(text))

export interface WatchState {
  readonly connection: "connecting" | "live" | "reconnecting"
  /** By `computer/sessionId`. */
  readonly sessions: ReadonlyMap<string, Session>
  readonly computers: ReadonlyMap<string, Computer>
  /** The last `error` event, shown until the next initial state. */
  readonly problem: string | null
}

export const emptyWatchState: WatchState = { connection: "connecting", sessions: new Map(), computers: new Map(), problem: null }

const keyOf = (ref: SessionRef) => `${ref.computer}/${ref.sessionId}`

export const applyFrame = (state: WatchState, frame: ServerEvent): WatchState => {
  switch (frame.event) {
    case "sessions_initial":
      return {
        ...state,
        sessions: new Map(frame.data.sessions.map((s) => [keyOf(s), s])),
        computers: new Map(frame.data.computers.map((c) => [c.name, c])),
        problem: null
      }
    case "session_updated":
      return { ...state, sessions: new Map(state.sessions).set(keyOf(frame.data), frame.data) }
    case "session_removed": {
      const sessions = new Map(state.sessions)
      sessions.delete(keyOf(frame.data))
      return { ...state, sessions }
    }
    case "computer_updated":
      return { ...state, computers: new Map(state.computers).set(frame.data.name, frame.data) }
    case "computer_removed": {
      const { name } = frame.data
      return {
        ...state,
        computers: new Map([...state.computers].filter(([other]) => other !== name)),
        sessions: new Map([...state.sessions].filter(([, s]) => s.computer !== name))
      }
    }
    case "error":
      return { ...state, problem: frame.data.message }
    default:
      // Events of topics and terminals watch does not follow.
      return state
  }
}

/** The whole screen: a header line, then one block per computer. */
export const renderWatch = (state: WatchState, view: { readonly url: string; readonly now: number; readonly columns: number }): string => {
  const sessions = [...state.sessions.values()].sort(byComputerThenAge)
  const computers = [...new Set([...state.computers.keys(), ...sessions.map((s) => s.computer)])].sort()
  const connection = state.connection === "reconnecting" ? "reconnecting…" : state.connection
  const header = `termfleet watch  ${view.url}  ${connection}  ${computers.length} computer(s), ${sessions.length} session(s)  Ctrl-C quits`
  const lines = [truncate(cell(header), view.columns)]
  if (state.problem !== null) lines.push(truncate(cell(`daemon says: ${state.problem}`), view.columns))
  for (const computer of computers) {
    const mine = sessions.filter((s) => s.computer === computer)
    lines.push("", cell(computer))
    const rows = mine.length === 0
      ? [["no sessions"]]
      : [
        ["STATUS", "AGENT", "TITLE", "PROJECT", "ACTIVE", "LAST OUTPUT"],
        ...mine.map((s) => [
          s.status,
          agentCell(s, view.now),
          titleOf(s),
          s.projectPath ?? "-",
          ago(s.lastActivity, view.now),
          lastLine(s.lastOutput)
        ])
      ]
    lines.push(...table(rows, view.columns - 2).map((line) => `  ${line}`))
  }
  return lines.join("\n")
}

// Home, clear; the alternate screen keeps the user's scrollback as it was.
const CLEAR = "\u001b[H\u001b[2J"
const ENTER = "\u001b[?1049h\u001b[?25l"
const LEAVE = "\u001b[?25h\u001b[?1049l"
const REDRAW_MILLIS = 100
const BACKOFF_FIRST_MILLIS = 250
const BACKOFF_MAX_MILLIS = 5000

export const webSocketUrl = (url: string): string => {
  const ws = new URL(url)
  ws.protocol = ws.protocol === "https:" ? "wss:" : "ws:"
  ws.pathname = ws.pathname.replace(/\/?$/, "/ws")
  return ws.toString()
}

const openWebSocket = (daemon: Daemon) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const ws = new WebSocket(webSocketUrl(daemon.url), { headers: daemon.headers })
      // Errors reach the Socket through its own listeners; this one only keeps
      // an error after they were removed (closing while connecting) from throwing.
      ws.on("error", () => {})
      return ws as unknown as globalThis.WebSocket
    }),
    (ws) => Effect.sync(() => ws.close(1000))
  )

const textDecoder = new TextDecoder()

/** Runs until interrupted (Ctrl-C). Fails only when the daemon is not there to begin with. */
export const watch = (daemon: Daemon): Effect.Effect<never, ClientFailure, ClientOutput> =>
  Effect.gen(function*() {
    // Checked before the screen is taken over, so "is the daemon running?" stays readable.
    yield* call(daemon, "fleet", "health", {})
    const output = yield* ClientOutput
    const state = yield* Ref.make(emptyWatchState)
    const attempts = yield* Ref.make(0)

    const draw = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const columns = (yield* output.columns) ?? 120
      yield* output.stdout(CLEAR + renderWatch(yield* Ref.get(state), { url: daemon.url, now, columns }))
    })
    // A change asks for a redraw; asks arriving while one is pending are one ask.
    const redraw = yield* Queue.sliding<void>(1)
    const update = (f: (state: WatchState) => WatchState) => Effect.zipRight(Ref.update(state, f), redraw.offer(undefined))

    const connectOnce = Effect.scoped(Effect.gen(function*() {
      const socket = yield* Socket.fromWebSocket(openWebSocket(daemon))
      const write = yield* socket.writer
      yield* socket.runRaw(
        (data) =>
          Option.match(decodeFrame(typeof data === "string" ? data : textDecoder.decode(data)), {
            onNone: () => Effect.void,
            onSome: (frame) => update((s) => applyFrame(s, frame))
          }),
        {
          onOpen: Effect.all([
            Ref.set(attempts, 0),
            update((s) => ({ ...s, connection: "live" })),
            write(JSON.stringify({ type: "subscribe", topic: "sessions" }))
          ], { discard: true }).pipe(Effect.ignore)
        }
      )
    }))

    yield* Effect.acquireRelease(output.stdout(ENTER), () => output.stdout(LEAVE))
    yield* draw
    // The latest state, at most once per REDRAW_MILLIS however many events arrive.
    yield* Effect.forkScoped(Effect.forever(Effect.sleep(REDRAW_MILLIS).pipe(Effect.zipRight(redraw.take), Effect.zipRight(draw))))
    // Relative times age without any event.
    yield* Effect.forkScoped(Effect.repeat(Effect.delay(redraw.offer(undefined), "5 seconds"), Schedule.forever))
    return yield* Effect.forever(Effect.gen(function*() {
      yield* Effect.ignore(connectOnce)
      const attempt = yield* Ref.getAndUpdate(attempts, (n) => n + 1)
      yield* update((s) => ({ ...s, connection: "reconnecting" }))
      yield* Effect.sleep(Math.min(BACKOFF_MAX_MILLIS, BACKOFF_FIRST_MILLIS * 2 ** attempt))
    }))
  }).pipe(Effect.scoped)
