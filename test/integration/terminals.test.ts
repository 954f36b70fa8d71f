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
import { Limits } from "../../src/domain/Limits.js"
import { startDaemon, type TestDaemon } from "../support/TestDaemon.js"
import { connectViewer } from "../support/TerminalViewer.js"
import { tmuxCli } from "../support/TmuxServer.js"

const request = (daemon: TestDaemon, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method,
      headers: { ...daemon.authHeaders, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text.length > 0 ? JSON.parse(text) : null }
  })

const newSession = (daemon: TestDaemon, command: string) =>
  Effect.map(request(daemon, "POST", "/sessions", { command }), (created) => created.body.sessionId as string)

/** The tmux name of a session created without a title is its command's; sessions here are found by their id option. */
const tmuxTarget = (daemon: TestDaemon, sessionId: string) =>
  Effect.map(
    tmuxCli(daemon.settings.tmuxSocket, "list-sessions", "-F", "#{session_id} #{@tf_id}"),
    (out) => out.split("\n").find((line) => line.endsWith(` ${sessionId}`))!.split(" ")[0]!
  )

const paneSize = (daemon: TestDaemon, target: string) =>
  Effect.map(tmuxCli(daemon.settings.tmuxSocket, "display-message", "-p", "-t", target, "#{pane_width}x#{pane_height}"), (s) => s.trim())

const screenOf = (daemon: TestDaemon, target: string) =>
  Effect.map(
    tmuxCli(daemon.settings.tmuxSocket, "capture-pane", "-p", "-t", target),
    (text) => text.replace(/\n$/, "").split("\n").map((row) => row.trimEnd())
  )

describe("live terminals on one daemon", () => {
  it.scopedLive("a viewer sees the screen tmux has, colours and a full-screen program included", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("alpha", Option.none())
      const script = [
        "printf '\\033[31mred\\033[0m \\033[1;44mbold on blue\\033[0m plain\\n'",
        "printf 'second line\\n'",
        "read go",
        // A full-screen program: alternate screen, cleared, text placed by the cursor, application cursor keys.
        "printf '\\033[?1049h\\033[?1h\\033[2J\\033[5;10Hfull screen \\033[7minverse\\033[0m'",
        "printf '\\033[12;3Hbottom'",
        "read done"
      ].join("; ")
      const sessionId = yield* newSession(daemon, `sh -c "${script.replaceAll('"', '\\"')}"`)
      const target = yield* tmuxTarget(daemon, sessionId)
      const viewer = yield* connectViewer(daemon.wsUrl)
      yield* viewer.send({ type: "attach", sessionId, cols: 60, rows: 16 })
      yield* viewer.waitForScreen("second line")
      expect(yield* paneSize(daemon, target)).toBe("60x16")
      expect(yield* viewer.screen).toEqual(yield* screenOf(daemon, target))
      // The snapshot is at the pane's size when it was taken; the viewer's size follows as a resize.
      const snapshot = viewer.frames().find((frame) => frame.event === "terminal_snapshot")!
      expect(snapshot.data).toMatchObject({ sessionId, computer: "alpha" })
      expect(snapshot.data.data).toContain("\u001b[31m")
      expect(viewer.frames().some((f) => f.event === "terminal_resized" && f.data.cols === 60 && f.data.rows === 16)).toBe(true)

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
      const sessionId = yield* newSession(
        daemon,
        `sh -c 'read go; i=0; while [ $i -lt ${lines} ]; do i=$((i+1)); echo line-$i.; done; read done'`
      )
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
      const all = first.received() + second.received()
      const counts = new Map<string, number>()
      for (const match of all.matchAll(/line-(\d+)\./g)) counts.set(match[1]!, (counts.get(match[1]!) ?? 0) + 1)
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
      const resizedTo = (cols: number, rows: number) => (frame: { event: string; data: any }) =>
        frame.event === "terminal_resized" && frame.data.cols === cols && frame.data.rows === rows
      yield* wide.send({ type: "attach", sessionId, cols: 120, rows: 40 })
      yield* wide.waitUntil("a snapshot", () => wide.events().includes("terminal_snapshot"))
      yield* small.send({ type: "attach", sessionId, cols: 70, rows: 20 })
      yield* wide.waitUntil("70x20", () => wide.frames().some(resizedTo(70, 20)))
      expect(yield* paneSize(daemon, target)).toBe("70x20")
      yield* wide.send({ type: "keys", sessionId, data: "x" })
      yield* small.waitUntil("120x40", () => small.frames().some(resizedTo(120, 40)))
      expect(yield* paneSize(daemon, target)).toBe("120x40")
      yield* small.send({ type: "resize", sessionId, cols: 90, rows: 30 })
      yield* wide.waitUntil("90x30", () => wide.frames().some(resizedTo(90, 30)))
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
