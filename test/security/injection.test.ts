/**
 * User text (titles, project folders, input typed into a terminal, session
 * ids in URLs) never becomes a shell command, a tmux command, a tmux format
 * (`#(...)` runs a shell command, `#{...}` expands) or a tmux target. Each
 * attempt would create a file under /tmp: none may exist at the end, while a
 * deliberate `#(touch ...)` run through tmux by the test itself (a positive
 * control) shows such a file would have appeared by then.
 *
 * A session's *command* is a shell line run by tmux on purpose (that is the
 * feature), so only its bounds are tested here.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { existsSync, mkdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { pollUntil } from "../support/Poll.js"
import { json, raw } from "../support/RawHttp.js"
import { tempDir } from "../support/TempDir.js"
import { startDaemon, type TestDaemon } from "../support/TestDaemon.js"
import { tmuxCli } from "../support/TmuxServer.js"

const unique = `${process.pid}-${Date.now()}`
/** The file an injection attempt would create. */
const pwn = (n: number | string) => `/tmp/tf-pwn-${unique}-${n}`
/** The same path written without '/', for a folder name: the shell turns $(printf '\057') into '/'. */
const slashless = (n: number | string) => pwn(n).replaceAll("/", "$(printf '\\057')")

const post = (daemon: TestDaemon, path: string, body: unknown) =>
  raw(daemon.httpUrl(path), {
    method: "POST",
    headers: { ...daemon.authHeaders, "content-type": "application/json" },
    body: json(body)
  })

const tmuxNames = (socket: string) =>
  tmuxCli(socket, "list-sessions", "-F", "#{session_name}").pipe(
    Effect.map((out) => out.split("\n").filter((line) => line !== "").sort()),
    Effect.catchAll(() => Effect.succeed<ReadonlyArray<string>>([]))
  )

/** The session name tmux keeps for a title: tmux itself would turn ':' and '.' into '_'. */
/** tmux names avoid what tmux would rewrite or expand; the title is kept apart, as written. */
const tmuxNameOf = (title: string) => title.replace(/[:.\\#]/g, "_")

/** Files of the attempts that exist, out of `ns`. */
const created = (ns: ReadonlyArray<number | string>) => ns.map(pwn).filter((path) => existsSync(path))

/**
 * Positive control: tmux runs the `#(...)` job of a format it expands (here
 * for a target session), so the file appears. Once it has, jobs started by
 * earlier attempts would have run too. tmux kills a job whose client has
 * gone, and `display-message` returns at once, so it is asked again until
 * one job gets to run.
 */
const controlJobRuns = (socket: string) =>
  Effect.gen(function*() {
    // Removed with the other attempts' files, after the tmux server is gone (no job left to recreate it).
    const canary = pwn("control")
    const [target] = (yield* tmuxCli(socket, "list-sessions", "-F", "#{session_id}")).split("\n")
    const attempt = Effect.zipRight(
      tmuxCli(socket, "display-message", "-p", "-t", target!, `#(touch ${canary})`),
      Effect.sync(() => existsSync(canary))
    )
    yield* pollUntil(attempt, (exists) => exists, `tmux to run the control job (${canary})`)
  })

/** Each session's name and the folder its pane runs in. */
const paneFolders = (socket: string) =>
  Effect.map(
    tmuxCli(socket, "list-panes", "-a", "-F", "#{session_name}\t#{pane_current_path}"),
    (panes) => Object.fromEntries(panes.split("\n").filter(Boolean).map((line) => line.split("\t") as [string, string]))
  )

const ATTEMPTS: ReadonlyArray<number | string> = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
/** Registered before the daemon starts, so it runs after its tmux server is killed. */
const removeAttemptFiles = Effect.addFinalizer(() =>
  Effect.sync(() => [...ATTEMPTS, "control"].forEach((n) => rmSync(pwn(n), { force: true })))
)

describe("injection attempts", () => {
  it.scopedLive("titles are stored and returned literally, or refused with 400; none reaches a shell or tmux as code", () =>
    Effect.gen(function*() {
      yield* removeAttemptFiles
      const daemon = yield* startDaemon("sec", Option.none())
      const literal = [
        `$(touch ${pwn(1)})`,
        `#(touch ${pwn(2)})`,
        `; touch ${pwn(3)}`,
        `\`touch ${pwn(4)}\``,
        `x;touch ${pwn(5)};`,
        ";",
        "-t evil",
        "a:b.c",
        "#{session_id} #{pane_pid} #{host}",
        "##",
        "'\"\\ quotes",
        "%1 %% %s"
      ]
      const refused = ["x\u001b[31mred", "two\nlines", "nul\u0000", "tab\there", "t".repeat(101)]

      // Every title is tried before anything is checked, so one failure shows all.
      const accepted: Array<unknown> = []
      for (const title of literal) {
        const response = yield* post(daemon, "/sessions", { title, command: "cat" })
        accepted.push({ title, status: response.status, returned: response.json?.title })
      }
      const rejected: Array<unknown> = []
      for (const title of refused) {
        const response = yield* post(daemon, "/sessions", { title, command: "cat" })
        rejected.push({ title, status: response.status, message: typeof response.json?.message })
      }
      // First what matters most: nothing ran.
      yield* controlJobRuns(daemon.settings.tmuxSocket)
      expect(created(ATTEMPTS)).toEqual([])

      expect(accepted).toEqual(literal.map((title) => ({ title, status: 201, returned: title })))
      expect(rejected).toEqual(refused.map((title) => ({ title, status: 400, message: "string" })))

      // Read back: from the API (the cache, fed by tmux listings) and from tmux itself.
      const listed = (yield* raw(daemon.httpUrl("/sessions"), { headers: daemon.authHeaders })).json as ReadonlyArray<{
        sessionId: string
        title: string
      }>
      expect(listed.map((s) => s.title).sort()).toEqual([...literal].sort())
      expect(yield* tmuxNames(daemon.settings.tmuxSocket)).toEqual(literal.map(tmuxNameOf).sort())
      // A poll later (it re-reads every session's options), still literal.
      const polled = yield* pollUntil(
        daemon.cache.sessions("sec"),
        (sessions) => sessions.length === literal.length && sessions.every((s) => s.status !== "exited"),
        "every session listed again"
      )
      expect(polled.map((s) => s.title).sort()).toEqual([...literal].sort())
    }))

  it.scopedLive("project folders are used literally: a nonexistent one is a 400, an odd existing one is the session's folder", () =>
    Effect.gen(function*() {
      yield* removeAttemptFiles
      const daemon = yield* startDaemon("sec", Option.none())
      const base = yield* tempDir("tf-sec-dirs")

      for (const projectPath of [`/tmp/$(touch ${pwn(6)})`, `/tmp/#(touch ${pwn(7)})`, `relative/$(touch ${pwn(8)})`, "/tmp\u0000/x"]) {
        const response = yield* post(daemon, "/sessions", { title: "dir", projectPath, command: "cat" })
        expect({ projectPath, status: response.status }).toEqual({ projectPath, status: 400 })
        expect({ projectPath, message: response.json?.message }).toEqual({ projectPath, message: expect.any(String) })
      }

      // Folders that exist, named like a tmux job, a tmux format and a shell substitution.
      const folders = {
        "dir-job": join(base, `#(touch ${slashless(9)})`),
        "dir-format": join(base, "p #{session_name} ##{host}"),
        "dir-shell": join(base, `$(touch ${slashless(10)})`)
      }
      for (const [title, projectPath] of Object.entries(folders)) {
        mkdirSync(projectPath)
        const response = yield* post(daemon, "/sessions", { title, projectPath, command: "cat" })
        expect({ title, status: response.status }).toEqual({ title, status: 201 })
        expect({ title, projectPath: response.json.projectPath }).toEqual({ title, projectPath })
      }
      yield* controlJobRuns(daemon.settings.tmuxSocket)
      expect(created(ATTEMPTS)).toEqual([])
      expect(yield* paneFolders(daemon.settings.tmuxSocket)).toEqual(folders)
    }))

  // tmux keeps "##[" as it is when it expands a format (so a style can be
  // written literally), so a '#[' can reach neither a tmux name nor a start folder.
  it.scopedLive("a tmux style ('#[...]') is kept literally in a title, and a folder containing one is refused", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      const title = "#[fg=red]styled ##"
      const byTitle = yield* post(daemon, "/sessions", { title, command: "cat" })
      expect(byTitle.status).toBe(201)
      const folder = join(yield* tempDir("tf-sec-dirs"), "s #[fg=red] x")
      mkdirSync(folder)
      const byFolder = yield* post(daemon, "/sessions", { title: "styled-folder", projectPath: folder, command: "cat" })
      expect(byFolder.status).toBe(400)
      expect(byFolder.json?.message).toContain("#[")

      const listed = (yield* daemon.cache.sessions("sec")).map((s) => [s.title, s.projectPath])
      expect(listed).toEqual([[title, null]])
      expect(yield* tmuxNames(daemon.settings.tmuxSocket)).toEqual([tmuxNameOf(title)])
    }))

  it.scopedLive("input text is typed literally: substitutions, tmux key names and ';' reach the program as text", () =>
    Effect.gen(function*() {
      yield* removeAttemptFiles
      const daemon = yield* startDaemon("sec", Option.none())
      const session = yield* post(daemon, "/sessions", { title: "typing", command: "cat" })
      expect(session.status).toBe(201)
      const id: string = session.json.sessionId
      const output = Effect.map(
        raw(daemon.httpUrl(`/sessions/${id}/output?lines=200`), { headers: daemon.authHeaders }),
        (r) => String(r.json?.output ?? "")
      )
      const typed = [
        `$(touch ${pwn(11)})`,
        `#(touch ${pwn(12)})`,
        "C-c",
        ";",
        "-t evil \\;",
        "#{session_name}"
      ]
      for (const text of typed) {
        const response = yield* post(daemon, `/sessions/${id}/input`, { text })
        expect({ text, status: response.status }).toEqual({ text, status: 200 })
        expect({ text, lastInput: response.json.lastInput }).toEqual({ text, lastInput: text })
        // cat shows each line twice: the terminal's echo, then cat's copy.
        yield* pollUntil(output, (screen) => screen.split("\n").filter((line) => line === text).length >= 2, `'${text}' echoed literally`)
      }
      // Still running: "C-c" was text, not Ctrl-C.
      const after = yield* daemon.cache.sessions("sec")
      expect(after.map((s) => [s.title, s.status === "exited"])).toEqual([["typing", false]])
      // lastInput, read back from tmux on every poll, stays literal.
      yield* pollUntil(daemon.cache.sessions("sec"), (s) => s[0]?.lastInput === typed.at(-1), "lastInput read back")

      const refused = yield* post(daemon, `/sessions/${id}/input`, { text: "a\u0000b" })
      expect(refused.status).toBe(400)

      yield* controlJobRuns(daemon.settings.tmuxSocket)
      expect(created(ATTEMPTS)).toEqual([])
    }))

  it.scopedLive("session ids in URLs are never tmux targets: tmux ids, names and prefixes of ids are refused", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      const first = yield* post(daemon, "/sessions", { title: "victim", command: "cat" })
      expect(first.status).toBe(201)
      const id: string = first.json.sessionId
      const attempts: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
        // tmux's own session id, and its forms of targets: refused by the id's pattern.
        [encodeURIComponent("$0"), [400, 404]],
        [encodeURIComponent("=victim"), [400, 404]],
        [encodeURIComponent("victim:0.0"), [400, 404]],
        [encodeURIComponent("-t victim"), [400, 404]],
        // Valid-looking ids that tmux would match by name or prefix: unknown.
        ["victim", [404]],
        ["vic", [404]],
        [id.slice(0, 6), [404]]
      ]
      for (const [path, statuses] of attempts) {
        const ended = yield* raw(daemon.httpUrl(`/sessions/${path}`), { method: "DELETE", headers: daemon.authHeaders })
        expect({ path, status: statuses.includes(ended.status) ? "refused" : ended.status }).toEqual({ path, status: "refused" })
        const typed = yield* post(daemon, `/sessions/${path}/input`, { text: "exit" })
        expect({ path, status: statuses.includes(typed.status) ? "refused" : typed.status }).toEqual({ path, status: "refused" })
      }
      expect(yield* tmuxNames(daemon.settings.tmuxSocket)).toEqual(["victim"])
      const bad = yield* post(daemon, "/sessions", { computer: `$(touch ${pwn("computer")})`, command: "cat" })
      expect(bad.status).toBe(400)
    }))

  it.scopedLive("a command with NUL or over 4096 characters is refused with 400", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      for (const [what, command] of [
        ["NUL", "echo a\u0000b"],
        ["4097 characters", `echo ${"x".repeat(4092)}`]
      ] as const) {
        const response = yield* post(daemon, "/sessions", { title: "cmd", command })
        expect({ what, status: response.status }).toEqual({ what, status: 400 })
        expect({ what, message: response.json?.message }).toEqual({ what, message: expect.any(String) })
      }
      expect(yield* tmuxNames(daemon.settings.tmuxSocket)).toEqual([])
    }))
})
