/**
 * `termfleet attach` as a user runs it: the built binary in a real terminal
 * (a pane of a private tmux server of the test), attached to a session of a
 * daemon; what is typed in the terminal reaches the session, its output shows
 * full screen, Ctrl-] detaches with exit 0 and the terminal is back as it was;
 * the same through a second daemon for a session of the first (real Redis).
 * Needs `npm run build` first (`make test` does it).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { attachedTerminal } from "../support/AttachedTerminal.js"
import { binary } from "../support/Cli.js"
import { requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { newSession, paneSize, screenOf, tmuxTarget } from "../support/Panes.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startDaemon, startFleetDaemon } from "../support/TestDaemon.js"
import { tmuxCli } from "../support/TmuxServer.js"

beforeAll(requireBuild)

const redisUrl = useRedis()

describe("termfleet attach", () => {
  it.scopedLive("types into the session, shows its output full screen, and detaches on Ctrl-] with exit 0", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const url = daemon.httpUrl("").replace(/\/$/, "")
      const { sessionId } = yield* Effect.promise(() =>
        fetch(daemon.httpUrl("/sessions"), {
          method: "POST",
          headers: { ...daemon.authHeaders, "content-type": "application/json" },
          body: JSON.stringify({ title: "attached", command: "sh" })
        }).then((response) => response.json() as Promise<{ sessionId: string }>)
      )
      const terminal = yield* attachedTerminal(url, sessionId)
      yield* terminal.type("echo typed-through-$((6*7))", "Enter")
      yield* pollUntil(terminal.screen, (text) => text.includes("typed-through-42"), "the session's output in the terminal")
      // The session took the size of the terminal it is shown in.
      const size = yield* tmuxCli(daemon.settings.tmuxSocket, "display-message", "-p", "-t", "=attached:", "#{pane_width}x#{pane_height}")
      expect(size.trim()).toBe("100x30")

      yield* terminal.type("C-]")
      expect(yield* pollUntil(terminal.exitCode, (code) => code !== "", "attach to exit")).toBe("0")
      // The terminal is back: the main screen with what was on it before.
      const after = yield* pollUntil(terminal.screen, (text) => text.includes("after-attach"), "the terminal restored")
      expect(after).toContain("before-attach")
    }))

  it.scopedLive("attached through beta to a session of alpha: a command typed runs on alpha, its output shows", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("attach-remote")
      const alpha = yield* startFleetDaemon(redisUrl(), "alpha", { prefix })
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      const sessionId = yield* newSession(alpha, "sh")
      const terminal = yield* attachedTerminal(beta.httpUrl("").replace(/\/$/, ""), sessionId)
      yield* terminal.type("echo from-alpha-$((6*7))", "Enter")
      yield* pollUntil(terminal.screen, (text) => /from-alpha-42/.test(text), "alpha's output in the terminal")
      expect((yield* screenOf(alpha, yield* tmuxTarget(alpha, sessionId))).join("\n")).toMatch(/from-alpha-42/)
      expect(yield* paneSize(alpha, yield* tmuxTarget(alpha, sessionId))).toBe("100x30")
      yield* terminal.type("C-]")
      expect(yield* pollUntil(terminal.exitCode, (code) => code !== "", "attach to exit")).toBe("0")
    }), 60_000)

  it.scopedLive("send --keys presses keys by their tmux names: C-c ends sleep; bad names are usage errors", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const url = daemon.httpUrl("").replace(/\/$/, "")
      const created = yield* binary("new", "--url", url, "--json", "--", "sleep 100")
      const { sessionId } = JSON.parse(created.stdout) as { sessionId: string }
      // A Ctrl-C typed before sleep holds the terminal finds no process to interrupt.
      const target = yield* tmuxTarget(daemon, sessionId)
      yield* pollUntil(
        tmuxCli(daemon.settings.tmuxSocket, "display-message", "-p", "-t", target, "#{pane_current_command}"),
        (command) => command.trim() === "sleep",
        "sleep to run in the pane"
      )
      const sent = yield* binary("send", "--keys", "--url", url, sessionId, "C-c")
      expect(sent).toMatchObject({ code: 0 })
      const status = Effect.map(binary("ls", "--url", url, "--json"), (ran) =>
        (JSON.parse(ran.stdout) as Array<{ sessionId: string; status: string }>).find((s) => s.sessionId === sessionId)?.status)
      expect(yield* pollUntil(status, (s) => s === "exited", "sleep to end")).toBe("exited")

      const badKey = yield* binary("send", "--keys", "--url", url, sessionId, "C-c", "Nope")
      expect(badKey.code).toBe(2)
      expect(badKey.stderr).toContain("unknown key name 'Nope'")
      const unknown = yield* binary("send", "--keys", "--url", url, "000000000000", "Enter")
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain("no session '000000000000'")
    }), 60_000)

  it.scopedLive("send --keys through beta to a session of alpha: confirmed once alpha typed them; alpha not answering: exit 1 after 5 s", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("send-keys-remote")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      const url = beta.httpUrl("").replace(/\/$/, "")
      const created = yield* alpha.request("POST", "/sessions", { title: "typed-into", command: "cat" })
      const sessionId: string = created.body.sessionId
      // No client of beta follows the sessions (beta knows none of alpha's): send finds the session itself.
      const sent = yield* binary("send", "--keys", "--url", url, sessionId, "t", "y", "p", "e", "d", "Enter")
      expect(sent).toMatchObject({ code: 0 })
      // The line discipline's echo and cat's own copy of the line.
      const screen = tmuxCli(alpha.tmuxSocket, "capture-pane", "-p", "-t", "=typed-into:")
      yield* pollUntil(screen, (text) => text.split("\n").filter((row) => row === "typed").length === 2, "the keys typed into cat on alpha")

      // alpha stops answering (its process stopped, still in the fleet): no confirmation, a clear error.
      alpha.signal("SIGSTOP")
      yield* Effect.addFinalizer(() => Effect.sync(() => alpha.signal("SIGCONT")))
      const unanswered = yield* binary("send", "--keys", "--url", url, sessionId, "x")
      alpha.signal("SIGCONT")
      expect(unanswered.code).toBe(1)
      expect(unanswered.stderr).toContain(`the keys for '${sessionId}' were not confirmed: alpha did not answer within 5 s`)
    }), 60_000)
})
