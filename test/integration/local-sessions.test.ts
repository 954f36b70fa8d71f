/**
 * LocalSessions against real tmux: each test gets its own private server
 * (`tmux -L tf-test-<pid>-<n>`), killed when the test ends. Tests await the
 * cache changes they expect (subscribed before acting), never sleep.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Queue, Runtime, Schedule, Schema, TestClock } from "effect"
import fc from "fast-check"
import { existsSync } from "node:fs"
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Session } from "../../src/domain/Model.js"
import { Limits, Title } from "../../src/domain/Limits.js"
import { type CreateSessionRequest, LocalSessions } from "../../src/local/LocalSessions.js"
import { type CacheChange, SessionCache } from "../../src/cache/SessionCache.js"
import { createArgs } from "../../src/local/Tmux.js"
import { awaitChange, localSessionsLayer, privateTmux, tmuxCli } from "../support/TmuxServer.js"

const start = (socket: string) =>
  Effect.map(Layer.build(localSessionsLayer(socket)), (context) => ({
    sessions: Context.get(context, LocalSessions),
    cache: Context.get(context, SessionCache)
  }))

const updateOf = (sessionId: string, match: (session: Session) => boolean = () => true) => (change: CacheChange) =>
  change._tag === "SessionUpdated" && change.session.sessionId === sessionId && match(change.session)
    ? change.session
    : undefined

/** A temporary directory, removed with the scope. */
const temporaryDirectory = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "tf-test-")).then((path) => realpath(path))),
  (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
)

const failureTag = <A, E extends { readonly _tag: string }>(attempt: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(attempt), (error) => error._tag)

const tmuxNames = (socket: string) =>
  Effect.map(tmuxCli(socket, "list-sessions", "-F", "#{session_name}"), (out) => out.trim().split("\n").sort())

/** Characters tmux prints escaped or that termfleet encodes, among any others. */
const awkward = fc.constantFrom(
  "\u2028", "\u2029", "\u0378", "\ufffe", "\u{10ffff}", "\u200b", "\ufeff", "\u00ad", "e\u0301", "😀",
  "\\", "%", ";", "#", ":", ".", "~", " ", "\\342"
)
/** Titles taken as they are: not blank (a blank title is replaced by a default), and accepted by the API's `Title`. */
const acceptedTitle = fc.string({
  unit: fc.oneof(awkward, fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 })),
  minLength: 1,
  maxLength: 50
}).filter((title) => title.trim() !== "" && Schema.is(Title)(title))

describe("LocalSessions on a private tmux server", () => {
  it.scopedLive("starts with no tmux server, lists nothing, and starts none", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { sessions } = yield* start(socket)
      expect(yield* sessions.list).toEqual([])
      expect(yield* Effect.flip(tmuxCli(socket, "list-sessions"))).toBeInstanceOf(Error)
    }))

  it.scopedLive("create: the session is listed, named by its title in tmux, and in the cache at once", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const changes = yield* cache.subscribe
      const session = yield* sessions.create({ title: "build", command: "cat" })
      expect(session).toMatchObject({
        computer: "test",
        title: "build",
        command: "cat",
        projectPath: null,
        lastInput: null,
        status: "running"
      })
      expect(session.sessionId).toMatch(/^[0-9a-f]{12}$/)
      expect(yield* awaitChange(changes, "SessionUpdated", updateOf(session.sessionId))).toEqual(session)
      expect((yield* sessions.list).map((s) => s.sessionId)).toEqual([session.sessionId])
      expect(yield* tmuxNames(socket)).toEqual(["build"])
    }))

  it.scopedLive("create without a command runs the configured shell, titled after it or the project folder", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const project = yield* temporaryDirectory
      const { sessions } = yield* start(socket)
      // The daemon's `shell` setting (SHELL when it starts; the test settings' default).
      const shell = "/bin/sh"
      const plain = yield* sessions.create({})
      expect(plain.command).toBe(shell)
      expect(plain.title).toBe(shell.split("/").pop())
      const inProject = yield* sessions.create({ projectPath: project })
      expect(inProject).toMatchObject({ projectPath: project, title: project.split("/").pop() })
      const cwd = yield* tmuxCli(socket, "display-message", "-p", "-t", "$1", "#{session_path}")
      expect(cwd.trim()).toBe(project)
    }))

  it.scopedLive("sessions do not inherit the daemon's TERMFLEET_ settings", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      yield* Effect.acquireRelease(
        Effect.sync(() => (process.env["TERMFLEET_TOKEN"] = "secret")),
        () => Effect.sync(() => delete process.env["TERMFLEET_TOKEN"])
      )
      const { sessions } = yield* start(socket)
      yield* sessions.create({ command: "cat" })
      const environment = yield* tmuxCli(socket, "show-environment", "-g")
      expect(environment).toContain("PATH=")
      expect(environment).not.toContain("TERMFLEET_TOKEN")
    }))

  it.scopedLive("sendInput types the text and Enter; the output and lastInput reach the cache", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const session = yield* sessions.create({ title: "shell", command: "sh" })
      const changes = yield* cache.subscribe
      const sent = yield* sessions.sendInput(session.sessionId, "echo hello-$((6*7))")
      expect(sent.lastInput).toBe("echo hello-$((6*7))")
      const seen = yield* awaitChange(
        changes,
        "output hello-42",
        updateOf(session.sessionId, (s) => s.lastOutput.includes("hello-42"))
      )
      expect(seen.lastInput).toBe("echo hello-$((6*7))")
      expect(seen.lastActivity).toBeGreaterThan(0)
      expect(yield* sessions.output(session.sessionId, Limits.defaultOutputLines)).toContain("hello-42")
      expect((yield* sessions.output(session.sessionId, 1)).split("\n")).toHaveLength(1)
    }))

  it.scopedLive("a session whose command ended is exited, its last output kept", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const changes = yield* cache.subscribe
      // It ends only once tmux has shown its output: tmux before 3.7 drops what a program wrote and it had not
      // yet read when the program exits (tmux#4807), so an `echo bye; exit 3` could end with nothing on screen.
      const session = yield* sessions.create({ title: "short", command: "echo bye; read line; exit 3" })
      yield* awaitChange(changes, "bye", updateOf(session.sessionId, (s) => s.lastOutput.includes("bye")))
      yield* sessions.sendInput(session.sessionId, "go")
      const exited = yield* awaitChange(
        changes,
        "exited status",
        updateOf(session.sessionId, (s) => s.status === "exited" && s.lastOutput.includes("bye"))
      )
      expect(exited.title).toBe("short")
      expect((yield* sessions.list).map((s) => s.status)).toEqual(["exited"])
    }))

  it.scopedLive("sessions whose programs are killed just after the daemon started following them are all exited", () =>
    Effect.gen(function*() {
      // Made before the service starts (as after a daemon restart): it opens a control client for each at once,
      // and asks each to report its pane's death.
      const socket = yield* privateTmux
      const ids = Array.from({ length: 20 }, (_, n) => `${n}`.padStart(12, "0"))
      for (const sessionId of ids) {
        yield* tmuxCli(socket, ...createArgs({
          sessionId,
          createdAt: Date.now(),
          title: sessionId,
          tmuxName: sessionId,
          projectPath: null,
          command: "sleep 1000",
          lastInput: null
        }))
      }
      const { cache, sessions } = yield* start(socket)
      const changes = yield* cache.subscribe
      // Killed, not ended by input: nothing is written, so only tmux's word that a pane died can tell.
      const pids = yield* tmuxCli(socket, "list-panes", "-a", "-F", "#{pane_pid}")
      for (const pid of pids.trim().split("\n")) process.kill(-Number(pid), "SIGTERM")
      const living = new Set(ids)
      yield* awaitChange(changes, "every session exited", (change) => {
        if (change._tag === "SessionUpdated" && change.session.status === "exited") living.delete(change.session.sessionId)
        return living.size === 0 ? true : undefined
      })
      expect((yield* sessions.list).map((s) => s.status)).toEqual(Array(20).fill("exited"))
    }), 30_000)

  it.scopedLive("a rename done in tmux is a title change", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const session = yield* sessions.create({ title: "before", command: "cat" })
      const changes = yield* cache.subscribe
      yield* tmuxCli(socket, "rename-session", "-t", "=before:", "after")
      yield* awaitChange(changes, "title after", updateOf(session.sessionId, (s) => s.title === "after"))
    }))

  it.scopedLive("every accepted title comes back exactly as given, U+2028 and U+2029 too (fast-check over real tmux)", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { sessions } = yield* start(socket)
      const run = Runtime.runPromise(yield* Effect.runtime<never>())
      const roundTrip = (title: string) =>
        Effect.gen(function*() {
          const created = yield* sessions.create({ title, command: "cat" })
          const listed = (yield* sessions.list).find((s) => s.sessionId === created.sessionId)
          yield* sessions.end(created.sessionId)
          return [created.title, listed?.title]
        })
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(acceptedTitle, async (title) => {
            expect(await run(roundTrip(title))).toEqual([title, title])
          }),
          { numRuns: 40, examples: [["x\u2028y"], ["x\u2029y"], ["\u2028lead"], ["tab\\t not a tab \\342\\200\\250"], ["$A"], ["a${x} $_y"]] }
        )
      )
    }), 120_000) // 44 real tmux round trips: seconds each on a loaded 2-core machine

  it.scopedLive("a rename in tmux to a name tmux escapes is the title as typed", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const session = yield* sessions.create({ title: "before", command: "cat" })
      const changes = yield* cache.subscribe
      const renamed = "line\u2028sep\u2029para \\ end"
      yield* tmuxCli(socket, "rename-session", "-t", "=before:", renamed)
      yield* awaitChange(changes, "the new title", updateOf(session.sessionId, (s) => s.title === renamed))
      // A new session of that title gets another tmux name: the taken one is recognised.
      const twin = yield* sessions.create({ title: renamed, command: "cat" })
      expect(twin.title).toBe(renamed)
    }))

  it.scopedLive("end removes the session from tmux and the cache; a session killed in tmux is removed too", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const ended = yield* sessions.create({ title: "ended", command: "cat" })
      const killed = yield* sessions.create({ title: "killed", command: "cat" })
      const changes = yield* cache.subscribe
      yield* sessions.end(ended.sessionId)
      const removedRef = (sessionId: string) => (change: CacheChange) =>
        change._tag === "SessionRemoved" && change.ref.sessionId === sessionId ? change.ref : undefined
      expect(yield* awaitChange(changes, "SessionRemoved", removedRef(ended.sessionId))).toEqual({
        sessionId: ended.sessionId,
        computer: "test"
      })
      expect(yield* tmuxNames(socket)).toEqual(["killed"])
      expect((yield* Effect.flip(sessions.end(ended.sessionId)))._tag).toBe("SessionNotFound")
      yield* tmuxCli(socket, "kill-session", "-t", "=killed:")
      yield* awaitChange(changes, "SessionRemoved", removedRef(killed.sessionId))
      expect(yield* sessions.list).toEqual([])
    }))

  it.scopedLive("sessions and their metadata survive a restart of the service", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const project = yield* temporaryDirectory
      const before = yield* Effect.scoped(Effect.gen(function*() {
        const { sessions } = yield* start(socket)
        const created = yield* sessions.create({ title: "keep:me.now", projectPath: project, command: "cat" })
        return yield* sessions.sendInput(created.sessionId, "remember\tme")
      }))
      const { cache, sessions } = yield* start(socket)
      const kept = ["sessionId", "title", "projectPath", "command", "createdAt", "lastInput"] as const
      const same = (session: Session) => Object.fromEntries(kept.map((key) => [key, session[key]]))
      expect((yield* cache.sessions("test")).map(same)).toEqual([same(before)])
      expect((yield* sessions.list).map(same)).toEqual([same(before)])
    }))

  it.scoped("following costs one control client per session and no tmux process while idle; idle status comes by itself", () =>
    Effect.gen(function*() {
      // Sessions made before the service starts (as after a daemon restart),
      // so no tmux notification is still on its way when counting starts.
      const socket = yield* privateTmux
      const now = Date.now()
      for (let n = 1; n <= 10; n++) {
        yield* tmuxCli(socket, ...createArgs({
          sessionId: `00000000000${n - 1}`.slice(-12),
          createdAt: now,
          title: `s${n}`,
          tmuxName: `s${n}`,
          projectPath: null,
          command: "cat",
          lastInput: null
        }))
      }
      yield* TestClock.setTime(now)
      const { cache, sessions } = yield* start(socket)
      const listed = yield* cache.sessions("test")
      expect(listed).toHaveLength(10)
      // One listing, then one control client per session.
      expect(yield* sessions.tmuxCalls).toBe(11)
      const changes = yield* cache.subscribe
      yield* TestClock.adjust("1 minute")
      expect(yield* sessions.tmuxCalls).toBe(11)
      const idle = new Set<string>()
      while (idle.size < 10) {
        const change = yield* Queue.take(changes)
        if (change._tag === "SessionUpdated" && change.session.status === "idle") idle.add(change.session.sessionId)
      }
      expect((yield* cache.sessions("test")).map((s) => s.status)).toEqual(Array(10).fill("idle"))
    }))

  it.scopedLive("a pane flooding output does not hold up another session's output", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const flood = yield* sessions.create({ title: "flood", command: "yes flooding-the-pane" })
      const quiet = yield* sessions.create({ title: "quiet", command: "cat" })
      const changes = yield* cache.subscribe
      yield* awaitChange(changes, "flood output", updateOf(flood.sessionId, (s) => s.lastOutput.includes("flooding-the-pane")))
      yield* sessions.sendInput(quiet.sessionId, "still-heard")
      yield* awaitChange(changes, "the quiet session's echo", updateOf(quiet.sessionId, (s) => s.lastOutput.includes("still-heard")))
      yield* awaitChange(changes, "flood still followed", updateOf(flood.sessionId, (s) => s.status === "running"))
    }))

  it.scopedLive("hostile titles and folders are taken literally and harmless; tmux names stay unique", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const marker = join(tmpdir(), `pwned-title-${process.pid}-${Date.now()}`)
      const directory = yield* temporaryDirectory
      const project = join(directory, `p #{session_id} #(touch ${marker.replaceAll("/", "_")}) ;`)
      yield* Effect.promise(() => mkdir(project))
      const { sessions } = yield* start(socket)
      const inProject = yield* sessions.create({ title: "#(touch x)", projectPath: project, command: "cat" })
      expect(inProject).toMatchObject({ title: "#(touch x)", projectPath: project })
      const cwd = yield* tmuxCli(socket, "display-message", "-p", "-t", "$0", "#{session_path}")
      expect(cwd.trim()).toBe(project)
      yield* sessions.end(inProject.sessionId)
      const titles = [
        "-t evil",
        "x; rm -rf /",
        "a:b.c",
        "ends;",
        "back\\slash\\;",
        `$(touch ${marker})`,
        `#{session_id} #(touch ${marker})`,
        "$0",
        "dup",
        "dup",
        "ünïcødé ✓"
      ]
      const created = yield* Effect.forEach(titles, (title) => sessions.create({ title, command: "cat" }))
      expect(created.map((s) => s.title)).toEqual(titles)
      expect((yield* sessions.list).map((s) => s.title)).toEqual(titles)
      const ids = yield* tmuxCli(socket, "list-sessions", "-F", "#{@tf_id}")
      expect(ids.trim().split("\n").sort()).toEqual(created.map((s) => s.sessionId).sort())
      expect(yield* tmuxNames(socket)).toEqual(
        ["-t evil", "x; rm -rf /", "a_b_c", "ends;", "back_slash_;", `$(touch ${marker})`,
          `_{session_id} _(touch ${marker})`, "$0", "dup", "dup-2", "ünïcødé ✓"].sort()
      )
      expect(existsSync(marker)).toBe(false)
    }))

  it.scopedLive("input is typed literally: a command substitution sent to cat runs nowhere", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const marker = join(tmpdir(), `pwned-input-${process.pid}-${Date.now()}`)
      const { cache, sessions } = yield* start(socket)
      const session = yield* sessions.create({ title: "cat", command: "cat" })
      const changes = yield* cache.subscribe
      yield* sessions.sendInput(session.sessionId, `$(touch ${marker})`)
      yield* sessions.sendInput(session.sessionId, "-t x;")
      yield* awaitChange(changes, "echoed input", updateOf(session.sessionId, (s) => s.lastOutput.includes("-t x;")))
      const output = yield* sessions.output(session.sessionId, Limits.defaultOutputLines)
      expect(output.split("\n").filter((line) => line === `$(touch ${marker})`)).toHaveLength(2)
      expect(existsSync(marker)).toBe(false)
    }))

  it.scopedLive("16 KiB of input arrives whole, in order; lastInput keeps its start", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const directory = yield* temporaryDirectory
      const received = join(directory, "received")
      const { cache, sessions } = yield* start(socket)
      const changes = yield* cache.subscribe
      // Non-canonical mode: no 4 KiB line limit between tmux and the reader.
      const text = "ab✓".repeat(3276)
      const bytes = Buffer.byteLength(text) + 1
      const session = yield* sessions.create({
        command: `stty -icanon -echo; echo ready; head -c ${bytes} > ${received}`
      })
      yield* awaitChange(changes, "ready", updateOf(session.sessionId, (s) => s.lastOutput.includes("ready")))
      const sent = yield* sessions.sendInput(session.sessionId, text)
      expect(sent.lastInput).toBe(text.slice(0, 1024))
      const content = yield* Effect.promise(() => readFile(received, "utf8").catch(() => "")).pipe(
        Effect.filterOrFail((got) => Buffer.byteLength(got) >= bytes, () => new Error("input not received")),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
      )
      expect(content).toBe(`${text}\n`)
      expect((yield* sessions.list)[0]?.lastInput).toBe(text.slice(0, 1024))
    }))

  // Lengths, NUL and control characters are bounded by the payload Schemas (test/unit/limits.test.ts).
  it.scopedLive("a bad project folder is refused with InvalidSessionInput before reaching tmux; unknown ids are SessionNotFound", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const directory = yield* temporaryDirectory
      const file = join(directory, "file")
      yield* Effect.promise(() => writeFile(file, ""))
      const { sessions } = yield* start(socket)
      const bad: ReadonlyArray<CreateSessionRequest> = [
        { projectPath: "relative/path" },
        { projectPath: join(directory, "missing") },
        { projectPath: file },
        { projectPath: "/tmp/#[fg=red]" }
      ]
      for (const request of bad) {
        const error = yield* Effect.flip(sessions.create(request))
        expect(error._tag).toBe("InvalidSessionInput")
        expect(error.message).not.toBe("")
      }
      const session = yield* sessions.create({ title: "x".repeat(100), command: "cat" })
      expect((yield* sessions.list).map((s) => s.sessionId)).toEqual([session.sessionId])
      expect(yield* failureTag(sessions.sendInput("0123456789ab", "hi"))).toBe("SessionNotFound")
      expect(yield* failureTag(sessions.output("$0", 1))).toBe("SessionNotFound")
      expect(yield* failureTag(sessions.end("-t"))).toBe("SessionNotFound")
    }))

  it.scopedLive("local sessions it never listed stay in the cache", () =>
    Effect.gen(function*() {
      const socket = yield* privateTmux
      const { cache, sessions } = yield* start(socket)
      const other: Session = {
        sessionId: "put-by-a-test",
        computer: "test",
        title: "other",
        projectPath: null,
        command: "none",
        status: "running",
        createdAt: 0,
        lastActivity: 0,
        lastInput: null,
        lastOutput: ""
      }
      yield* cache.upsertSession(other)
      const session = yield* sessions.create({ command: "cat" })
      yield* sessions.end(session.sessionId)
      yield* sessions.list
      expect(yield* cache.session({ sessionId: other.sessionId, computer: "test" })).toEqual(Option.some(other))
    }))
})
