/** The state and screen of `termfleet watch`, from the frames the daemon pushes, and how often it redraws. */
import { it as effectIt } from "@effect/vitest"
import { describe, expect, it } from "vitest"
import { Deferred, Effect, Layer, Option, TestClock, TestContext } from "effect"
import { ClientOutput } from "../../src/cli/Output.js"
import {
  applyFrame,
  decodeFrame,
  emptyWatchState,
  renderWatch,
  watch,
  type WatchState,
  webSocketUrl
} from "../../src/cli/Watch.js"
import { makeSession } from "../support/fixtures.js"
import { pollUntil } from "../support/Poll.js"
import { startDaemon } from "../support/TestDaemon.js"

const computer = (name: string) => ({ name, version: "0.1.0", startedAt: 0, lastSeen: 0, interestedIn: [] })

const applyAll = (frames: ReadonlyArray<unknown>): WatchState =>
  frames.reduce<WatchState>(
    (state, frame) => Option.match(decodeFrame(JSON.stringify(frame)), { onNone: () => state, onSome: (f) => applyFrame(state, f) }),
    emptyWatchState
  )

const waitingAgent = {
  name: "claude",
  state: "waiting",
  reason: "permission",
  since: -30_000,
  summary: "Bash: rm -rf build",
  source: "hook",
  choices: [],
  conflict: null
} as const

const view = { url: "http://127.0.0.1:7420", now: 90_000, columns: 120 }

describe("watch", () => {
  it("keeps the initial state patched by updates and removals, one block per computer", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: "agent" })], computers: [computer("alpha")] }, seq: 1 },
      { event: "computer_updated", data: computer("beta"), seq: 2 },
      { event: "session_updated", data: makeSession("beta", "b1", { title: "build", lastActivity: 60_000, lastOutput: "ok\nDONE 3/3\n\n" }), seq: 3 },
      { event: "session_updated", data: makeSession("beta", "b2", { title: "fix", createdAt: 1, lastActivity: 88_000, agent: waitingAgent }), seq: 4 },
      { event: "session_updated", data: makeSession("alpha", "a2", { title: "gone soon" }), seq: 4 },
      { event: "session_removed", data: { sessionId: "a2", computer: "alpha" }, seq: 5 },
      { event: "pong", data: null },
      { event: "terminal_closed", data: { sessionId: "a1", reason: "ended", message: "watch follows no terminal" } },
      { event: "from_a_newer_daemon", data: {} }
    ])
    expect(renderWatch(state, view).split("\n")).toEqual([
      "termfleet watch  http://127.0.0.1:7420  connecting  2 computer(s), 3 session(s)  Ctrl-C quits",
      "",
      "alpha",
      "  STATUS   AGENT  TITLE  PROJECT  ACTIVE  LAST OUTPUT",
      "  running  -      agent  -        1m ago",
      "",
      "beta",
      "  STATUS   AGENT                                             TITLE  PROJECT  ACTIVE    LAST OUTPUT",
      "  running  -                                                 build  -        30s ago   DONE 3/3",
      "  running  claude waiting permission 2m: Bash: rm -rf build  fix    -        just now"
    ])
  })

  it("drops a computer that went away with its sessions", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("beta", "b1")], computers: [computer("alpha"), computer("beta")] }, seq: 6 },
      { event: "computer_removed", data: { name: "beta" }, seq: 7 }
    ])
    expect([...state.computers.keys()]).toEqual(["alpha"])
    expect(state.sessions.size).toBe(0)
  })

  it("never lets a session's title or output move the cursor or clear the screen", () => {
    const evil = "\u001b[2J\u001b]0;pwned\u0007title\r"
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: evil, lastOutput: evil })], computers: [] }, seq: 8 }
    ])
    const screen = renderWatch(state, view)
    expect(screen).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
    expect(screen).toContain("title")
  })

  it("says when the screen contradicts the hooks, and keeps a long summary to its cell", () => {
    const agent = { ...waitingAgent, summary: "x".repeat(300), conflict: { state: "done", reason: null } } as const
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { agent })], computers: [] }, seq: 9 }
    ])
    const row = renderWatch(state, view).split("\n").at(-1)!
    expect(row).toMatch(/^ {2}running {2}claude waiting permission 2m \[screen: done\]: x+… {2}session a1 /)
  })

  it("cuts lines to the terminal's width", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: "x".repeat(300) })], computers: [] }, seq: 9 }
    ])
    for (const line of renderWatch(state, { ...view, columns: 60 }).split("\n")) expect(line.length).toBeLessThanOrEqual(60)
  })

  it("talks to /ws on the daemon's host", () => {
    expect(webSocketUrl("http://127.0.0.1:7420")).toBe("ws://127.0.0.1:7420/ws")
    expect(webSocketUrl("https://fleet.example/termfleet/")).toBe("wss://fleet.example/termfleet/ws")
  })
})

describe("watch against a daemon", () => {
  effectIt.scopedLive("redraws at most once per 100 ms of its clock, however many events arrive", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const written: Array<string> = []
      const output = Layer.succeed(ClientOutput, {
        stdout: (text) => Effect.sync(() => void written.push(text)),
        stderr: () => Effect.void,
        columns: Effect.succeed(200)
      })
      // Each screen starts by moving home and clearing.
      const screens = Effect.sync(() => written.join("").split("\u001b[H\u001b[2J").slice(1))

      // watch runs on a clock of its own that only this test moves; the daemon and the socket run in real time.
      const clock = yield* Deferred.make<TestClock.TestClock>()
      yield* Effect.gen(function*() {
        yield* Deferred.succeed(clock, yield* TestClock.testClock())
        return yield* watch({ url: daemon.httpUrl("").replace(/\/$/, ""), headers: daemon.authHeaders })
      }).pipe(Effect.provide(Layer.merge(output, TestContext.TestContext)), Effect.forkScoped)
      const testClock = yield* Deferred.await(clock)

      let ticks = 0
      const tick = Effect.zipRight(Effect.sync(() => ticks++), Effect.zipRight(testClock.adjust("100 millis"), screens))
      const showing = (text: string) => (drawn: ReadonlyArray<string>) => drawn.at(-1)?.includes(text) === true
      // Subscribed once a session created now is on screen (in the initial state or as an update).
      yield* daemon.cache.upsertSession(makeSession("solo", "first", { title: "first-one" }))
      yield* pollUntil(tick, showing("first-one"), "the first session on screen", 30_000, 20)

      const before = { ticks, drawn: (yield* screens).length }
      const burst = 1000
      for (let i = 0; i < burst; i++) yield* daemon.cache.upsertSession(makeSession("solo", `burst${i}`))
      // One tick of 100 ms at a time until the whole burst is on screen.
      yield* pollUntil(tick, showing(`${burst + 1} session(s)`), "the burst on screen", 30_000, 20)

      const drawn = (yield* screens).length - before.drawn
      expect(drawn).toBeLessThanOrEqual(ticks - before.ticks)
      expect(drawn).toBeLessThan(burst / 10)
    }))
})
