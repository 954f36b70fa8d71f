/** The state and screen of `termfleet watch`, from the frames the daemon pushes. */
import { describe, expect, it } from "vitest"
import { Option } from "effect"
import { applyFrame, decodeFrame, emptyWatchState, renderWatch, type WatchState, webSocketUrl } from "../../src/cli/Watch.js"
import { makeSession } from "../support/fixtures.js"

const computer = (name: string) => ({ name, version: "0.1.0", startedAt: 0, lastSeen: 0, interestedIn: [] })

const applyAll = (frames: ReadonlyArray<unknown>): WatchState =>
  frames.reduce<WatchState>(
    (state, frame) => Option.match(decodeFrame(JSON.stringify(frame)), { onNone: () => state, onSome: (f) => applyFrame(state, f) }),
    emptyWatchState
  )

const view = { url: "http://127.0.0.1:7420", now: 90_000, columns: 120 }

describe("watch", () => {
  it("keeps the initial state patched by updates and removals, one block per computer", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: "agent" })], computers: [computer("alpha")] } },
      { event: "computer_updated", data: computer("beta") },
      { event: "session_updated", data: makeSession("beta", "b1", { title: "build", lastActivity: 60_000, lastOutput: "ok\nDONE 3/3\n\n" }) },
      { event: "session_updated", data: makeSession("alpha", "a2", { title: "gone soon" }) },
      { event: "session_removed", data: { sessionId: "a2", computer: "alpha" } },
      { event: "pong", data: null }
    ])
    expect(renderWatch(state, view).split("\n")).toEqual([
      "termfleet watch  http://127.0.0.1:7420  connecting  2 computer(s), 2 session(s)  Ctrl-C quits",
      "",
      "alpha",
      "  STATUS   TITLE  PROJECT  ACTIVE  LAST OUTPUT",
      "  running  agent  -        1m ago",
      "",
      "beta",
      "  STATUS   TITLE  PROJECT  ACTIVE   LAST OUTPUT",
      "  running  build  -        30s ago  DONE 3/3"
    ])
  })

  it("drops a computer that went away with its sessions", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("beta", "b1")], computers: [computer("alpha"), computer("beta")] } },
      { event: "computer_removed", data: { name: "beta" } }
    ])
    expect([...state.computers.keys()]).toEqual(["alpha"])
    expect(state.sessions.size).toBe(0)
  })

  it("never lets a session's title or output move the cursor or clear the screen", () => {
    const evil = "\u001b[2J\u001b]0;pwned\u0007title\r"
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: evil, lastOutput: evil })], computers: [] } }
    ])
    const screen = renderWatch(state, view)
    expect(screen).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/)
    expect(screen).toContain("title")
  })

  it("cuts lines to the terminal's width", () => {
    const state = applyAll([
      { event: "sessions_initial", data: { sessions: [makeSession("alpha", "a1", { title: "x".repeat(300) })], computers: [] } }
    ])
    for (const line of renderWatch(state, { ...view, columns: 60 }).split("\n")) expect(line.length).toBeLessThanOrEqual(60)
  })

  it("talks to /ws on the daemon's host", () => {
    expect(webSocketUrl("http://127.0.0.1:7420")).toBe("ws://127.0.0.1:7420/ws")
    expect(webSocketUrl("https://fleet.example/termfleet/")).toBe("wss://fleet.example/termfleet/ws")
  })
})
