/**
 * This computer's terminal sessions: tmux sessions on a private server
 * (`tmux -L <tmuxSocket>`), kept in step with the SessionCache.
 *
 * A poll tick costs one tmux listing for all sessions, plus one batched
 * capture when some pane may have new output, so an idle tick costs the same
 * with 1 session as with 100. Only differences reach the cache, and only for
 * sessions this service listed: other local sessions in the cache are left
 * alone. Sessions outlive the daemon; nothing here ever kills the server.
 */
import { Clock, Context, Effect, Either, Layer, Schedule, Schema, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import { stat } from "node:fs/promises"
import { basename, isAbsolute } from "node:path"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Session } from "../domain/Model.js"
import { SessionCache } from "../cache/SessionCache.js"
import { surviving } from "../runtime/Survive.js"
import {
  captureArgs,
  commandBytes,
  createArgs,
  discardArgs,
  killArgs,
  lastOutputOf,
  Limits,
  listArgs,
  makeTmux,
  namesArgs,
  outputMayHaveChanged,
  parseListing,
  sendArgs,
  splitCaptures,
  storedInput,
  tailLines,
  TmuxError,
  type TmuxSession,
  toSession,
  uniqueName
} from "./Tmux.js"

export { TmuxError } from "./Tmux.js"

export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String
}) {
  override get message() {
    return `no session ${this.sessionId} on this computer`
  }
}

export class InvalidSessionInput extends Schema.TaggedError<InvalidSessionInput>()("InvalidSessionInput", {
  message: Schema.String
}) {}

export interface CreateSessionRequest {
  readonly title?: string | undefined
  readonly projectPath?: string | null | undefined
  readonly command?: string | undefined
}

export interface LocalSessionsService {
  readonly list: Effect.Effect<ReadonlyArray<Session>, TmuxError>
  readonly create: (request: CreateSessionRequest) => Effect.Effect<Session, TmuxError | InvalidSessionInput>
  readonly sendInput: (
    sessionId: string,
    text: string
  ) => Effect.Effect<Session, TmuxError | SessionNotFound | InvalidSessionInput>
  readonly output: (sessionId: string, lines?: number) => Effect.Effect<string, TmuxError | SessionNotFound>
  readonly end: (sessionId: string) => Effect.Effect<void, TmuxError | SessionNotFound>
  /** tmux processes started since the layer was built, for benchmarks and the idle-cost test. */
  readonly tmuxCalls: Effect.Effect<number>
}

const InputLimits = {
  titleChars: 100,
  commandChars: 4096,
  textBytes: 16 * 1024
} as const

/** The lines `output` answers unless asked otherwise, and the most it answers. */
const defaultOutputLines = 100
const maxOutputLines = 10_000

const pollInterval = "500 millis"

// ---------------------------------------------------------------------------
// What may reach tmux

const controlChar = /[\u0000-\u001f\u007f-\u009f]/

export interface NewSession {
  readonly title: string
  readonly projectPath: string | null
  readonly command: string
}

const invalid = (message: string) => Either.left(new InvalidSessionInput({ message }))

/** For a request without a title: the project folder's name, else the program's. */
export const defaultTitle = (projectPath: string | null, command: string): string => {
  const source = basename(projectPath ?? command.trim().split(/\s+/)[0] ?? "")
  return [...source].filter((char) => !controlChar.test(char)).slice(0, InputLimits.titleChars).join("") || "session"
}

/** Checks a create request; whether the project folder exists is checked apart, as it needs I/O. */
export const checkCreate = (
  request: CreateSessionRequest,
  shell: string
): Either.Either<NewSession, InvalidSessionInput> => {
  const command = request.command === undefined || request.command.trim() === "" ? shell : request.command
  if (command.length > InputLimits.commandChars) {
    return invalid(`a command is at most ${InputLimits.commandChars} characters`)
  }
  if (command.includes("\u0000")) return invalid("a command must not contain NUL")
  const projectPath = request.projectPath === undefined || request.projectPath === "" ? null : request.projectPath
  if (projectPath !== null && (!isAbsolute(projectPath) || projectPath.includes("\u0000"))) {
    return invalid(`a project folder is an absolute path, got ${JSON.stringify(projectPath)}`)
  }
  // tmux expands the start folder as a format and cannot escape '#[' in it.
  if (projectPath !== null && projectPath.includes("#[")) {
    return invalid(`tmux cannot start in a folder whose path contains '#[': ${JSON.stringify(projectPath)}`)
  }
  const title = request.title === undefined || request.title.trim() === ""
    ? defaultTitle(projectPath, command)
    : request.title
  if ([...title].length > InputLimits.titleChars) {
    return invalid(`a title is at most ${InputLimits.titleChars} characters`)
  }
  if (controlChar.test(title)) return invalid("a title must not contain control characters")
  return Either.right({ title, projectPath, command })
}

export const checkInput = (text: string): Either.Either<string, InvalidSessionInput> =>
  text === ""
    ? invalid("input text is empty")
    : Buffer.byteLength(text) > InputLimits.textBytes
    ? invalid(`input text is at most ${InputLimits.textBytes} bytes`)
    : text.includes("\u0000")
    ? invalid("input text must not contain NUL")
    : Either.right(text)

const checkDirectory = (path: string) =>
  Effect.flatMap(
    Effect.promise(() => stat(path).then((found) => found.isDirectory(), () => false)),
    (isDirectory) =>
      isDirectory
        ? Effect.void
        : Effect.fail(new InvalidSessionInput({ message: `project folder ${path} is not an existing directory` }))
  )

const outputLines = (lines: number | undefined) =>
  lines === undefined || !Number.isFinite(lines)
    ? defaultOutputLines
    : Math.min(Math.max(Math.trunc(lines), 1), maxOutputLines)

// ---------------------------------------------------------------------------
// The service

/** What the last tick knew of a session. */
interface Known {
  readonly row: TmuxSession
  readonly session: Session
  /** Clock time just before its pane was last captured (0: never). */
  readonly capturedAt: number
}

const sameSession = Schema.equivalence(Session)

export const makeLocalSessions: Effect.Effect<LocalSessionsService, never, DaemonConfig | SessionCache | Scope.Scope> =
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    const cache = yield* SessionCache
    const tmux = yield* makeTmux(config.tmuxSocket)
    // Ticks and changes take turns: a tick never undoes a change made while it
    // listed, and two creates never pick the same tmux name.
    const lock = yield* Effect.makeSemaphore(1)
    const shell = process.env["SHELL"] || "/bin/sh"
    const known = new Map<string, Known>()

    const listSessions = Effect.map(tmux.list(listArgs), parseListing)

    const findSession = (sessionId: string) =>
      Effect.flatMap(listSessions, (rows) => {
        const row = rows.find((candidate) => candidate.sessionId === sessionId)
        return row === undefined ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.succeed(row)
      })

    /** The last `lines` lines of each pane, by tmux id. */
    const capture = (tmuxIds: ReadonlyArray<string>, lines: number) =>
      Effect.gen(function*() {
        if (tmuxIds.length === 0) return new Map<string, string>()
        const marker = `tf-capture-${randomBytes(8).toString("hex")}`
        const outputs = yield* Effect.forEach(captureArgs(tmuxIds, lines, marker), tmux.run)
        const captures = yield* Either.mapLeft(
          splitCaptures(outputs.join(""), marker, tmuxIds.length),
          (message) => new TmuxError({ message: `capture-pane: ${message}` })
        )
        return new Map(tmuxIds.map((tmuxId, i) => [tmuxId, captures[i]!]))
      })

    /** Records a session's new state, publishing it if it changed. */
    const remember = (entry: Known) => {
      const previous = known.get(entry.session.sessionId)
      known.set(entry.session.sessionId, entry)
      return previous !== undefined && sameSession(previous.session, entry.session)
        ? Effect.void
        : cache.upsertSession(entry.session)
    }

    const sync = Effect.gen(function*() {
      const rows = yield* listSessions
      const now = yield* Clock.currentTimeMillis
      const changed = rows.filter((row) => {
        const previous = known.get(row.sessionId)
        return outputMayHaveChanged(previous?.row.activity, previous?.capturedAt ?? 0, row.activity)
      })
      const captured = yield* capture(changed.map((row) => row.tmuxId), Limits.outputLines)
      const listed = new Set(rows.map((row) => row.sessionId))
      for (const sessionId of known.keys()) {
        if (!listed.has(sessionId)) {
          known.delete(sessionId)
          yield* cache.removeSession({ sessionId, computer: config.computer })
        }
      }
      for (const row of rows) {
        const previous = known.get(row.sessionId)
        const output = captured.get(row.tmuxId)
        const lastOutput = output === undefined ? previous?.session.lastOutput ?? "" : lastOutputOf(output)
        yield* remember({
          row,
          session: toSession(row, config.computer, lastOutput, now),
          capturedAt: output === undefined ? previous?.capturedAt ?? 0 : now
        })
      }
    })

    /** Reports a failing poll once, not every tick. */
    let lastFailure = ""
    const tick = lock.withPermits(1)(sync).pipe(
      Effect.matchEffect({
        onSuccess: () => Effect.sync(() => (lastFailure = "")),
        onFailure: (error) =>
          error.message === lastFailure
            ? Effect.void
            : Effect.zipRight(
              Effect.sync(() => (lastFailure = error.message)),
              Effect.logWarning(`tmux poll failed: ${error.message}`)
            )
      })
    )
    // Sessions that survived a restart are in the cache before the daemon serves.
    yield* tick
    yield* Effect.forkScoped(Effect.schedule(surviving("polling tmux", tick), Schedule.spaced(pollInterval)))

    const create = (request: CreateSessionRequest) =>
      Effect.gen(function*() {
        const input = yield* checkCreate(request, shell)
        if (input.projectPath !== null) yield* checkDirectory(input.projectPath)
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          const taken = new Set((yield* tmux.list(namesArgs)).split("\n"))
          const sessionId = randomBytes(6).toString("hex")
          const args = createArgs({
            ...input,
            sessionId,
            createdAt: yield* Clock.currentTimeMillis,
            tmuxName: uniqueName(input.title, taken),
            lastInput: null
          })
          if (commandBytes(args) > Limits.commandBytes) {
            return yield* new InvalidSessionInput({ message: "the command and project folder are too long for tmux" })
          }
          // A create that failed half-way (say, its name was taken meanwhile) leaves nothing behind.
          const created = tmux.run(args).pipe(Effect.tapError(() => Effect.ignore(tmux.run(discardArgs(sessionId)))))
          const [row] = parseListing(yield* created)
          if (row === undefined) return yield* new TmuxError({ message: "new-session: the new session is not listed" })
          const session = toSession(row, config.computer, "", yield* Clock.currentTimeMillis)
          yield* remember({ row, session, capturedAt: 0 })
          return session
        }))
      })

    const sendInput = (sessionId: string, text: string) =>
      Effect.gen(function*() {
        yield* checkInput(text)
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          const found = yield* findSession(sessionId)
          const lastInput = storedInput(text)
          for (const args of sendArgs(found.tmuxId, text, lastInput)) yield* tmux.run(args)
          const row = { ...found, lastInput }
          const previous = known.get(sessionId)
          const session = toSession(row, config.computer, previous?.session.lastOutput ?? "", yield* Clock.currentTimeMillis)
          yield* remember({ row, session, capturedAt: previous?.capturedAt ?? 0 })
          return session
        }))
      })

    const output = (sessionId: string, lines?: number) =>
      Effect.gen(function*() {
        const count = outputLines(lines)
        const { tmuxId } = yield* findSession(sessionId)
        const captured = yield* capture([tmuxId], count)
        return tailLines(captured.get(tmuxId) ?? "", count)
      })

    const end = (sessionId: string) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const { tmuxId } = yield* findSession(sessionId)
        yield* tmux.run(killArgs(tmuxId))
        known.delete(sessionId)
        yield* cache.removeSession({ sessionId, computer: config.computer })
      }))

    return {
      list: Effect.map(lock.withPermits(1)(sync), () =>
        [...known.values()].map((entry) => entry.session).sort((a, b) => a.createdAt - b.createdAt)),
      create,
      sendInput,
      output,
      end,
      tmuxCalls: tmux.calls
    } satisfies LocalSessionsService
  })

export class LocalSessions extends Context.Tag("termfleet/LocalSessions")<LocalSessions, LocalSessionsService>() {
  static readonly layer: Layer.Layer<LocalSessions, never, DaemonConfig | SessionCache> = Layer.scoped(
    LocalSessions,
    makeLocalSessions
  )
}
