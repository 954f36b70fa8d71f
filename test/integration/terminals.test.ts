/**
 * Live terminals of one daemon, on real tmux and real sockets: a viewer on
 * `/ws` sees the pane's screen as tmux has it (colours, full-screen
 * programs), its keys arrive, it resumes after a reconnect with exactly what
 * it missed, several viewers share one size policy, and a flooding pane
 * costs bounded memory.
 *
 *   npx vitest run test/integration/terminals.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Limits } from "../../src/domain/Limits.js"
import { COLOURS_THEN_FULL_SCREEN, lineCounts, newSession, numberedLines, paneSize, screenOf, tmuxTarget } from "../support/Panes.js"
import { startDaemon } from "../support/TestDaemon.js"
import { connectViewer, type TerminalViewer } from "../support/TerminalViewer.js"
import { tmuxCli } from "../support/TmuxServer.js"

describe("live terminals on one daemon", () => {
  it.scopedLive("a viewer sees the screen tmux has, colours and a full-screen program included", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const sessionId = yield* newSession(daemon, COLOURS_THEN_FULL_SCREEN)
      const target = yield* tmuxTarget(daemon, sessionId)
      const viewer = yield* connectViewer(daemon.wsUrl)
      yield* viewer.send({ type: "attach", sessionId, cols: 60, rows: 16 })
      yield* viewer.waitForScreen("second line")
      expect(yield* paneSize(daemon, target)).toBe("60x16")
      expect(yield* viewer.screen).toEqual(yield* screenOf(daemon, target))
      // The snapshot is at the pane's size when it was taken; the viewer's size follows as a resize, or is the
      // snapshot's when the resize came first.
      const snapshot = viewer.frames().find((frame) => frame.event === "terminal_snapshot")!
      expect(snapshot.data).toMatchObject({ sessionId, computer: "alpha" })
      expect(snapshot.data.data).toContain("\u001b[31m")
      expect(viewer.toldSize()).toBe("60x16")

      yield* viewer.send({ type: "keys", sessionId, data: "\r" })
      yield* viewer.waitForScreen("bottom")
      expect(yield* viewer.screen).toEqual(yield* screenOf(daemon, target))

      // A second viewer, attaching now, gets the full-screen program from its snapshot alone.
      const late = yield* connectViewer(daemon.wsUrl)
      yield* late.send({ type: "attach", sessionId, cols: 60, rows: 16 })
      yield* late.waitForScreen("bottom")
      expect(yield* late.screen).toEqual(yield* screenOf(daemon, target))
      const lateSnapshot = late.frames().find((frame) => frame.event === "terminal_snapshot")!
      expect(lateSnapshot.data.data).toContain("\u001b[?1049h")
      expect(lateSnapshot.data.data).toContain("\u001b[?1h")
    }))

  it.scopedLive("a watched pane is read through a pipe, its session still follows its output; a pipe of the user's is kept, before or after", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const tmux = (...args: ReadonlyArray<string>) => Effect.map(tmuxCli(daemon.settings.tmuxSocket, ...args), (out) => out.trim())
      const sessions = yield* connectViewer(daemon.wsUrl)
      yield* sessions.send({ type: "subscribe", topic: "sessions" })
      const viewer = yield* connectViewer(daemon.wsUrl)

      const cat = yield* newSession(daemon, "cat")
      const target = yield* tmuxTarget(daemon, cat)
      yield* viewer.send({ type: "attach", sessionId: cat, cols: 80, rows: 24 })
      yield* viewer.waitUntil("the snapshot", () => viewer.events().includes("terminal_snapshot"))
      expect(yield* tmux("display-message", "-p", "-t", target, "#{pane_pipe}")).toBe("1")
      yield* viewer.send({ type: "keys", sessionId: cat, data: "through the pipe\r" })
      yield* viewer.waitForScreen(/through the pipe\nthrough the pipe/)
      expect(yield* viewer.screen).toEqual(yield* screenOf(daemon, target))
      // What the pipe reads is the session's output too: its lastOutput follows.
      yield* sessions.waitUntil("the session's lastOutput", () =>
        sessions.frames().some((frame) =>
          frame.event === "session_updated" && frame.data.sessionId === cat && String(frame.data.lastOutput).includes("through the pipe")))

      // The user pipes the watched pane elsewhere: tmux ends the daemon's pipe, and the pane is read from %output.
      const later = join(daemon.settings.stateDir, "users-later-pipe.log")
      yield* tmux("pipe-pane", "-O", "-t", target, `cat >> '${later}'`)
      yield* viewer.send({ type: "keys", sessionId: cat, data: "after the user's pipe\r" })
      yield* viewer.waitForScreen(/after the user's pipe\nafter the user's pipe/)
      yield* viewer.waitUntil("the user's later pipe writing", () => existsSync(later) && readFileSync(later, "utf8").includes("after the user's pipe"))

      // The user pipes this pane into a file: the daemon leaves that pipe alone and reads the pane from %output.
      const own = yield* newSession(daemon, "cat")
      const ownTarget = yield* tmuxTarget(daemon, own)
      const log = join(daemon.settings.stateDir, "users-own-pipe.log")
      yield* tmux("pipe-pane", "-O", "-t", ownTarget, `cat >> '${log}'`)
      yield* viewer.send({ type: "attach", sessionId: own, cols: 80, rows: 24 })
      yield* viewer.send({ type: "keys", sessionId: own, data: "kept\r" })
      yield* viewer.waitForScreen(/kept\nkept/)
      expect(yield* tmux("display-message", "-p", "-t", ownTarget, "#{pane_pipe}")).toBe("1")
      yield* viewer.waitUntil("the user's pipe writing", () => existsSync(log) && readFileSync(log, "utf8").includes("kept"))
    }))

  it.scopedLive("viewers attaching at once share one terminal of the pane (one epoch of positions)", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const sessionId = yield* newSession(daemon, "cat")
      const viewers = yield* Effect.all([connectViewer(daemon.wsUrl), connectViewer(daemon.wsUrl), connectViewer(daemon.wsUrl)])
      yield* Effect.forEach(viewers, (viewer) => viewer.send({ type: "attach", sessionId, cols: 80, rows: 24 }), { concurrency: "unbounded" })
      const epochs = yield* Effect.forEach(viewers, (viewer) =>
        Effect.map(
          viewer.waitUntil("the snapshot", () => viewer.events().includes("terminal_snapshot")),
          () => String(viewer.frames().find((frame) => frame.event === "terminal_snapshot")!.data.position).split("-")[0]
        ))
      expect(new Set(epochs).size).toBe(1)
    }))

  it.scopedLive("a local-only daemon refuses a session of another computer: terminal_closed, unavailable", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const viewer = yield* connectViewer(daemon.wsUrl)
      yield* viewer.send({ type: "attach", sessionId: "far", computer: "beta", cols: 80, rows: 24 })
      const closed = () => viewer.frames().filter((frame) => frame.event === "terminal_closed")
      yield* viewer.waitUntil("the attach refused", () => closed().length === 1)
      expect(closed()[0]!.data).toMatchObject({ sessionId: "far", reason: "unavailable" })
      expect(closed()[0]!.data.message).toContain("this daemon runs local-only")
    }))

  it.scopedLive("keys arrive: typing into cat, Ctrl-C ending sleep, arrow keys as escape sequences", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const viewer = yield* connectViewer(daemon.wsUrl)

      const cat = yield* newSession(daemon, "cat")
      yield* viewer.send({ type: "attach", sessionId: cat, cols: 80, rows: 24 })
      yield* viewer.send({ type: "keys", sessionId: cat, data: "héllo ✓ wörld\r" })
      const rows = yield* viewer.waitForScreen(/héllo ✓ wörld\nhéllo ✓ wörld/)
      expect(rows.filter((row) => row === "héllo ✓ wörld")).toHaveLength(2)

      const sleeper = yield* newSession(daemon, "sleep 100")
      yield* viewer.send({ type: "subscribe", topic: "sessions" })
      yield* viewer.send({ type: "attach", sessionId: sleeper, cols: 80, rows: 24 })
      yield* viewer.waitUntil("the snapshot", () => viewer.events().filter((e) => e === "terminal_snapshot").length === 2)
      yield* viewer.send({ type: "keys", sessionId: sleeper, data: "\u0003" })
      yield* viewer.waitUntil("sleep ended by Ctrl-C", () =>
        viewer.frames().some((f) => f.event === "session_updated" && f.data.sessionId === sleeper && f.data.status === "exited"))

      const keys = yield* newSession(daemon, "sh -c 'stty raw -echo; head -c 9 | od -An -tx1; read x'")
      yield* viewer.send({ type: "attach", sessionId: keys, cols: 80, rows: 24 })
      yield* viewer.waitUntil("the snapshot", () => viewer.events().filter((e) => e === "terminal_snapshot").length === 3)
      yield* viewer.send({ type: "keys", sessionId: keys, data: "\u001b[A\u001b[B\u001bOC" })
      yield* viewer.waitForScreen("1b 5b 41 1b 5b 42 1b 4f 43")
    }))

  it.scopedLive("a viewer that reconnects with its last position gets exactly what it missed", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const lines = 4000
      const sessionId = yield* newSession(daemon, numberedLines(lines))
      const first = yield* connectViewer(daemon.wsUrl)
      yield* first.send({ type: "attach", sessionId, cols: 80, rows: 24 })
      yield* first.waitUntil("the snapshot", () => first.lastPosition() !== undefined)
      yield* first.send({ type: "keys", sessionId, data: "\r" })
      yield* first.waitUntil("some lines", () => first.received().includes("line-200."))
      yield* first.terminate
      const missedFrom = first.lastPosition()!

      const second = yield* connectViewer(daemon.wsUrl)
      yield* second.send({ type: "attach", sessionId, cols: 80, rows: 24, from: missedFrom })
      yield* second.waitUntil("the last line", () => second.received().includes(`line-${lines}.`))
      // Resumed: no snapshot, the first frame starts where the first viewer stopped.
      expect(second.events()[0]).toBe("terminal_output")
      const counts = lineCounts(first.received() + second.received())
      expect(counts.size).toBe(lines)
      expect([...counts.values()].every((n) => n === 1)).toBe(true)

      // A position of another epoch (say, before the daemon restarted) gets a fresh snapshot.
      const third = yield* connectViewer(daemon.wsUrl)
      yield* third.send({ type: "attach", sessionId, cols: 80, rows: 24, from: "1-0" })
      yield* third.waitUntil("a snapshot", () => third.events().includes("terminal_snapshot"))
    }))

  it.scopedLive("sizes: the viewer who attached, typed or resized last sets the pane's size; every viewer is told", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const sessionId = yield* newSession(daemon, "cat")
      const target = yield* tmuxTarget(daemon, sessionId)
      const wide = yield* connectViewer(daemon.wsUrl)
      const small = yield* connectViewer(daemon.wsUrl)
      // The size a viewer was told last, by a resize or its snapshot (an earlier resize may land after a later viewer attached).
      const toldSize = (viewer: TerminalViewer, cols: number, rows: number) => viewer.toldSize() === `${cols}x${rows}`
      yield* wide.send({ type: "attach", sessionId, cols: 120, rows: 40 })
      yield* wide.waitUntil("a snapshot", () => wide.events().includes("terminal_snapshot"))
      yield* small.send({ type: "attach", sessionId, cols: 70, rows: 20 })
      yield* wide.waitUntil("70x20", () => toldSize(wide, 70, 20))
      expect(yield* paneSize(daemon, target)).toBe("70x20")
      yield* wide.send({ type: "keys", sessionId, data: "x" })
      yield* small.waitUntil("120x40", () => toldSize(small, 120, 40))
      expect(yield* paneSize(daemon, target)).toBe("120x40")
      yield* small.send({ type: "resize", sessionId, cols: 90, rows: 30 })
      yield* wide.waitUntil("90x30", () => toldSize(wide, 90, 30))
      expect(yield* paneSize(daemon, target)).toBe("90x30")
      // Detaching is answered, and the pane goes back to tmux's own sizing (no manual size left on the window).
      yield* small.send({ type: "detach", sessionId })
      yield* wide.send({ type: "detach", sessionId })
      yield* wide.waitUntil("detached", () => wide.events().includes("terminal_closed"))
      yield* small.waitUntil("detached", () => small.events().includes("terminal_closed"))
      const windowSize = yield* tmuxCli(daemon.settings.tmuxSocket, "show-options", "-w", "-t", target, "window-size")
      expect(windowSize.trim()).toBe("")
    }))

  it.scopedLive("a flooding pane costs bounded memory and does not hold up another session's output", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const flood = yield* newSession(daemon, "yes flooding-the-pane")
      const quiet = yield* newSession(daemon, "cat")
      const watcher = yield* connectViewer(daemon.wsUrl)
      yield* watcher.send({ type: "attach", sessionId: flood, cols: 80, rows: 24 })
      yield* watcher.waitUntil("the flood", () => watcher.received().length > 200_000)
      const viewer = yield* connectViewer(daemon.wsUrl)
      yield* viewer.send({ type: "attach", sessionId: quiet, cols: 80, rows: 24 })
      yield* viewer.waitUntil("the snapshot", () => viewer.events().includes("terminal_snapshot"))
      yield* viewer.send({ type: "keys", sessionId: quiet, data: "still-heard\r" })
      yield* viewer.waitForScreen("still-heard")
      const usage = yield* daemon.terminals.usage
      expect(usage.terminals).toBe(2)
      // What the two terminals hold stays within their bounds, whatever the flood wrote.
      expect(usage.bytes).toBeLessThanOrEqual(2 * (Limits.terminalHeldBytes + 64 * 1024))
    }), 60_000)
})
