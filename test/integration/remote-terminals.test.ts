/**
 * Live terminals across computers: a viewer on beta's `/ws` watches sessions
 * of alpha (two daemons, one real Redis, real tmux), as a viewer on alpha
 * would: the screen tmux has on alpha, keys (and no forged entry taken), a
 * resume after a reconnect with exactly what it missed, a flooding pane that
 * holds up no other, and alpha restarting under it.
 *
 *   npx vitest run test/integration/remote-terminals.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { encodePaneEntry, encodeTerminalInput } from "../../src/domain/PeerTerminal.js"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { sealFields } from "../../src/fleet/Seal.js"
import { pollUntil } from "../support/Poll.js"
import { COLOURS_THEN_FULL_SCREEN, lineCounts, newSession, numberedLines, paneSize, screenOf, tmuxTarget } from "../support/Panes.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { connectViewer } from "../support/TerminalViewer.js"
import { startFleetDaemon, TEST_FLEET_SECRET, type TestDaemon } from "../support/TestDaemon.js"
import { privateTmux } from "../support/TmuxServer.js"

const redisUrl = useRedis()

describe("live terminals of another computer", () => {
  it.scopedLive("a viewer on beta of alpha's sessions: screen, keys, resume, a flood, alpha restarting", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("remote-terminals")
      const alphaSocket = yield* privateTmux
      const alphaState = yield* tempDir("tf-alpha")
      const startAlpha = startFleetDaemon(redisUrl(), "alpha", { prefix, tmuxSocket: alphaSocket, stateDir: alphaState })
      const alphaRun = yield* Scope.make()
      const alpha = yield* Scope.extend(startAlpha, alphaRun)
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      const attach = { type: "attach", computer: "alpha", cols: 60, rows: 16 } as const

      // The screen: colours, then a full-screen program.
      const screen = yield* newSession(alpha, COLOURS_THEN_FULL_SCREEN)
      const target = yield* tmuxTarget(alpha, screen)
      const viewer = yield* connectViewer(beta.wsUrl)
      yield* viewer.send({ ...attach, sessionId: screen })
      yield* viewer.waitForScreen("second line")
      expect(viewer.frames().find((f) => f.event === "terminal_snapshot")!.data).toMatchObject({ sessionId: screen, computer: "alpha" })
      // The viewer's size became the pane's on alpha (by the time of the snapshot, or after it).
      yield* viewer.waitUntil("60x16", () => viewer.toldSize() === "60x16")
      expect(yield* paneSize(alpha, target)).toBe("60x16")
      expect(yield* viewer.screen).toEqual(yield* screenOf(alpha, target))
      yield* viewer.send({ type: "keys", sessionId: screen, data: "\r" })
      yield* viewer.waitForScreen("bottom")
      expect(yield* viewer.screen).toEqual(yield* screenOf(alpha, target))

      // Keys: UTF-8 into cat, Ctrl-C ending sleep, arrow keys as their escape sequences.
      const cat = yield* newSession(alpha, "cat")
      yield* viewer.send({ ...attach, sessionId: cat })
      yield* viewer.send({ type: "keys", sessionId: cat, data: "héllo ✓ wörld\r" })
      const rows = yield* viewer.waitForScreen(/héllo ✓ wörld\nhéllo ✓ wörld/)
      expect(rows.filter((row) => row === "héllo ✓ wörld")).toHaveLength(2)
      // Someone with Redis but not the secret, or a peer speaking for alpha: entries forged into the pane's stream
      // and into alpha's input are dropped and counted; the terminal goes on.
      const keys = redisKeys(prefix)
      const store = yield* makeIoRedisClient(redisUrl())
      const failures = (daemon: TestDaemon) => Effect.map(daemon.stats.snapshot, (counters) => counters.decodeFailures)
      const [alphaBefore, betaBefore] = [yield* failures(alpha), yield* failures(beta)]
      const pane = keys.pane("alpha", cat)
      const closedBody = encodePaneEntry({ _tag: "closed", reason: "ended", message: "forged" })
      yield* store.xadd(pane, sealFields("not-the-fleet-secret-0123456789", pane, "alpha", "1-1", closedBody), 100)
      yield* store.xadd(pane, sealFields(TEST_FLEET_SECRET, pane, "beta", "1-1", closedBody), 100)
      const input = keys.terminalInput("alpha")
      const forgedKeys = encodeTerminalInput({ deadline: Date.now() + 5_000, input: { _tag: "keys", sessionId: cat, data: btoa("forged\r") } })
      yield* store.xadd(input, sealFields("not-the-fleet-secret-0123456789", input, "beta", "1-1", forgedKeys), 100)
      yield* pollUntil(Effect.all([failures(alpha), failures(beta)]), ([a, b]) => a > alphaBefore && b >= betaBefore + 2, "the forged entries counted")
      yield* viewer.send({ type: "keys", sessionId: cat, data: "genuine\r" })
      yield* viewer.waitForScreen(/genuine\ngenuine/)
      expect(viewer.frames().some((f) => f.event === "terminal_closed" && f.data.sessionId === cat)).toBe(false)
      expect((yield* screenOf(alpha, yield* tmuxTarget(alpha, cat))).join("\n")).not.toContain("forged")

      const sleeper = yield* newSession(alpha, "sleep 100")
      yield* viewer.send({ type: "subscribe", topic: "sessions" })
      yield* viewer.send({ ...attach, sessionId: sleeper })
      yield* viewer.waitUntil("its snapshot", () => viewer.frames().some((f) => f.event === "terminal_snapshot" && f.data.sessionId === sleeper))
      yield* viewer.send({ type: "keys", sessionId: sleeper, data: "\u0003" })
      yield* viewer.waitUntil("sleep ended by Ctrl-C", () =>
        viewer.frames().some((f) => f.event === "session_updated" && f.data.sessionId === sleeper && f.data.status === "exited"))
      const arrows = yield* newSession(alpha, "sh -c 'stty raw -echo; head -c 9 | od -An -tx1; read x'")
      yield* viewer.send({ ...attach, sessionId: arrows })
      yield* viewer.waitUntil("its snapshot", () => viewer.frames().some((f) => f.event === "terminal_snapshot" && f.data.sessionId === arrows))
      yield* viewer.send({ type: "keys", sessionId: arrows, data: "\u001b[A\u001b[B\u001bOC" })
      yield* viewer.waitForScreen("1b 5b 41 1b 5b 42 1b 4f 43")

      // A viewer cut off while alpha's pane prints, back with its last position: every line exactly once.
      const lines = 4000
      const counted = yield* newSession(alpha, numberedLines(lines))
      const first = yield* connectViewer(beta.wsUrl)
      yield* first.send({ ...attach, sessionId: counted })
      yield* first.waitUntil("the snapshot", () => first.lastPosition() !== undefined)
      yield* first.send({ type: "keys", sessionId: counted, data: "\r" })
      yield* first.waitUntil("some lines", () => first.received().includes("line-200."))
      yield* first.terminate
      const second = yield* connectViewer(beta.wsUrl)
      yield* second.send({ ...attach, sessionId: counted, from: first.lastPosition()! })
      yield* second.waitUntil("the last line", () => second.received().includes(`line-${lines}.`))
      expect(second.events()[0]).toBe("terminal_output")
      const counts = lineCounts(first.received() + second.received())
      expect(counts.size).toBe(lines)
      expect([...counts.values()].every((n) => n === 1)).toBe(true)

      // A flooding pane of alpha does not hold up another session's output.
      const flood = yield* newSession(alpha, "yes flooding-the-pane")
      const watcher = yield* connectViewer(beta.wsUrl)
      yield* watcher.send({ ...attach, sessionId: flood })
      yield* watcher.waitUntil("the flood", () => watcher.received().length > 200_000)
      yield* viewer.send({ type: "keys", sessionId: cat, data: "still-heard\r" })
      yield* viewer.waitForScreen("still-heard")

      // alpha restarts while a viewer on beta is attached: it gets a fresh snapshot by itself, and goes on.
      const steady = yield* connectViewer(beta.wsUrl)
      yield* steady.send({ ...attach, sessionId: cat })
      yield* steady.waitForScreen("still-heard")
      yield* Scope.close(alphaRun, Exit.void)
      yield* Scope.extend(startAlpha, yield* Effect.scope)
      yield* steady.waitUntil("a fresh snapshot", () => steady.events().filter((e) => e === "terminal_snapshot").length === 2)
      yield* steady.send({ type: "keys", sessionId: cat, data: "after-restart\r" })
      yield* steady.waitForScreen(/after-restart\nafter-restart/)
      expect(yield* steady.screen).toEqual(yield* screenOf(alpha, yield* tmuxTarget(alpha, cat)))
    }), 120_000)
})
