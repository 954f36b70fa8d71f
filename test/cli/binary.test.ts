/**
 * The built command line, `node dist/main.js`, as a user runs it: exit codes,
 * and `termfleet watch` in a real terminal (a private tmux server) redrawing
 * on the changes the daemon pushes. Needs `npm run build` first (`make test`
 * does it).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { createServer, type IncomingHttpHeaders } from "node:http"
import { join } from "node:path"
import { standIn } from "../support/Agents.js"
import { binary } from "../support/Cli.js"
import { MAIN, requireBuild } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { freePort } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { startDaemon, TEST_TOKEN } from "../support/TestDaemon.js"
import { privateTmux, tmuxCli } from "../support/TmuxServer.js"

beforeAll(requireBuild)

const localDaemon = Effect.map(startDaemon("solo", Option.none()), (daemon) => ({
  url: daemon.httpUrl("").replace(/\/$/, ""),
  post: (path: string, body: unknown) =>
    Effect.promise(() =>
      fetch(daemon.httpUrl(path), {
        method: "POST",
        headers: { ...daemon.authHeaders, "content-type": "application/json" },
        body: JSON.stringify(body)
      })
        .then((response) => response.json() as Promise<{ sessionId: string }>)
    ),
  del: (path: string) => Effect.promise(() => fetch(daemon.httpUrl(path), { method: "DELETE", headers: daemon.authHeaders }))
}))

describe("node dist/main.js", () => {
  it.scopedLive("exit codes: 0 ok, 1 the daemon refused, 2 bad usage, 3 no daemon", () =>
    Effect.gen(function*() {
      const { url } = yield* localDaemon
      const created = yield* binary("new", "--url", url, "--json", "--", "sh")
      expect(created.code).toBe(0)
      const id = JSON.parse(created.stdout).sessionId
      expect(yield* binary("end", "--url", url, id)).toMatchObject({ code: 0 })

      // The rest do not depend on each other: run at once.
      const port = yield* Effect.promise(freePort)
      const away = `http://127.0.0.1:${port}`
      const [unknown, usage, frobnicate, lsAway, watchAway] = yield* Effect.all([
        binary("end", "--url", url, id),
        binary("send", "--url", url),
        binary("frobnicate"),
        binary("ls", "--url", away),
        binary("watch", "--url", away)
      ], { concurrency: "unbounded" })
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain(`no session '${id}'`)
      expect(usage.code).toBe(2)
      expect(usage.stderr).toContain("see 'termfleet send --help'")
      expect(frobnicate.code).toBe(2)
      expect(lsAway.code).toBe(3)
      expect(lsAway.stderr).toContain("is the daemon running? start it with: termfleet daemon")
      expect(watchAway.code).toBe(3)
    }), 60_000) // seven node processes, on a loaded machine

  it.scopedLive("watch redraws on each pushed change and quits on Ctrl-C; it and ls show each agent's state", () =>
    Effect.gen(function*() {
      const daemon = yield* localDaemon
      const socket = yield* privateTmux
      // sh writes down how watch exited (tmux 3.3 sometimes loses a dead pane's status) and
      // outlives the Ctrl-C meant for watch; its arguments are $0..$3, never spliced into the script.
      const exitFile = join(yield* tempDir("tf-watch"), "exit-code")
      yield* tmuxCli(
        socket,
        "new-session", "-d", "-s", "watch", "-x", "200", "-y", "50", "-e", `TERMFLEET_TOKEN=${TEST_TOKEN}`,
        "sh", "-c", `trap : INT; "$0" "$1" watch --url "$2"; echo $? > "$3"`, process.execPath, MAIN, daemon.url, exitFile
      )
      const screen = tmuxCli(socket, "capture-pane", "-p", "-t", "watch")

      yield* pollUntil(screen, (text) => text.includes("live") && text.includes("no sessions"), "the first screen")
      const { sessionId } = yield* daemon.post("/sessions", { title: "watched-build", projectPath: "/tmp", command: "sh" })
      const shown = yield* pollUntil(screen, (text) => text.includes("watched-build"), "the new session on screen")
      expect(shown).toMatch(/solo\n\s+STATUS\s+AGENT\s+TITLE\s+PROJECT\s+ACTIVE\s+LAST OUTPUT\n\s+\w+\s+-\s+watched-build\s+\/tmp\s/)

      // The Claude Code stand-in at its prompt, without hooks: its state is read off its screen.
      const agent = yield* daemon.post("/sessions", { title: "watched-agent", command: standIn("claude", yield* tempDir("tf-home")) })
      yield* pollUntil(screen, (text) => /\s+claude done \d+s\s+watched-agent\s/.test(text), "the agent's state on screen")
      const listed = yield* binary("ls", "--url", daemon.url)
      expect(listed.stdout).toMatch(/^SESSION\s+COMPUTER\s+STATUS\s+AGENT\s+TITLE/)
      expect(listed.stdout).toMatch(new RegExp(`\\n${agent.sessionId}\\s+solo\\s+\\w+\\s+claude done \\d+s\\s+watched-agent\\s`))
      yield* daemon.del(`/sessions/${agent.sessionId}`)

      yield* daemon.del(`/sessions/${sessionId}`)
      yield* pollUntil(screen, (text) => !text.includes("watched-build") && text.includes("no sessions"), "the session gone")

      yield* tmuxCli(socket, "send-keys", "-t", "watch", "C-c")
      const exitCode = Effect.sync(() => existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : "")
      expect(yield* pollUntil(exitCode, (code) => code !== "", "watch to exit")).toBe("0")
    }))

  it.scopedLive("a client command asks for no kept-alive connection, so it exits once its answer is read", () =>
    Effect.gen(function*() {
      // A server that would hold a kept-alive connection open for minutes.
      const seen: Array<IncomingHttpHeaders> = []
      const server = createServer((request, response) => {
        seen.push(request.headers)
        response.writeHead(200, { "content-type": "application/json" }).end("[]")
      })
      server.keepAliveTimeout = 600_000
      const port = yield* Effect.promise(freePort)
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(port, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => {
          server.closeAllConnections()
          server.close()
        })
      )
      const ls = yield* binary("ls", "--url", `http://127.0.0.1:${port}`)
      expect(ls).toMatchObject({ code: 0, stdout: "no sessions\n" })
      expect(seen.map((headers) => headers.connection)).toEqual(["close"])
    }))
})
