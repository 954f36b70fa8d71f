/**
 * This computer's terminal sessions: tmux sessions on a private server
 * (`tmux -L <tmuxSocket>`), kept in step with the SessionCache.
 *
 * Nothing is polled. Each session has a long-lived control-mode client
 * (`ControlClient.ts`) through which tmux tells of every byte its panes write,
 * of renames, of dead panes and of sessions coming and going; the same client
 * runs the captures, so following a session costs no process per change. A
 * session that wrote is refreshed at once, then at most every
 * `REFRESH_SPACING` while it keeps writing; an idle session costs nothing.
 * Only differences reach the cache, and only for sessions this service
 * listed: other local sessions in the cache are left alone. Sessions outlive
 * the daemon; nothing here ever kills the server.
 */
import { Clock, Context, Effect, Either, ExecutionStrategy, Exit, Layer, Schema, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { stat } from "node:fs/promises"
import { basename, isAbsolute } from "node:path"
import { AgentState, type PaneFacts } from "../agent/AgentState.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import { Session } from "../domain/Model.js"
import { SessionCache } from "../cache/SessionCache.js"
import { surviving } from "../runtime/Survive.js"
import { type ControlClient, openControlClient } from "./ControlClient.js"
import { type Notification, quote } from "./ControlMode.js"
import {
  commandBytes,
  createArgs,
  discardArgs,
  killArgs,
  lastOutputOf,
  listArgs,
  listFormat,
  makeTmux,
  namesArgs,
  parseListing,
  parseNames,
  parseSessionLine,
  sendArgs,
  statusOf,
  storedInput,
  tailLines,
  TmuxError,
  TmuxSession,
  toSession,
  uniqueName
} from "./Tmux.js"
import { makeTmuxGate } from "./TmuxGate.js"

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
  /** The last `lines` lines (bounded by `OutputLines` where the request is decoded). */
  readonly output: (sessionId: string, lines: number) => Effect.Effect<string, TmuxError | SessionNotFound>
  readonly end: (sessionId: string) => Effect.Effect<void, TmuxError | SessionNotFound>
  /** tmux processes started since the layer was built (control clients included), for benchmarks and the idle-cost test. */
  readonly tmuxCalls: Effect.Effect<number>
  /**
   * The control client following a session, with `listener` given every
   * notification of it (its panes' output first of all) until the scope
   * closes. Fails when the session is not followed (unknown, or gone).
   */
  readonly control: (
    sessionId: string,
    listener: (notification: Notification) => void
  ) => Effect.Effect<FollowedSession, SessionNotFound, Scope.Scope>
}

export interface FollowedSession {
  /** tmux's id of the session (`$3`). */
  readonly tmuxId: string
  readonly client: ControlClient
  /**
   * The pane's output is read elsewhere (`pipe-pane`) while the scope lasts:
   * its `%output` is paused on purpose for this client, not continued, and
   * what the pipe reads is told with `wrote`.
   */
  readonly piped: (pane: string) => Effect.Effect<void, never, Scope.Scope>
  /** The session's panes wrote something this client was not told of (a piped pane). */
  readonly wrote: () => void
}

/** While a pane keeps writing, its session's lastOutput is captured again at most this often. */
const REFRESH_SPACING = "200 millis"
/** How often statuses are looked at, to turn `running` into `idle` (no tmux call). */
const IDLE_CHECK = "1 second"
/** A session whose control client ended but which tmux still lists is followed again no sooner than this. */
const REFOLLOW_AFTER_MILLIS = 1_000
/** The last pane output lines kept in lastOutput are captured with this many lines of history. */
const CAPTURE_LINES = Limits.lastOutputLines

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
  return [...source].filter((char) => !controlChar.test(char)).slice(0, Limits.titleChars).join("") || "session"
}

/**
 * Fills in a create request and checks its project folder (whether it exists
 * is checked apart, as it needs I/O). Title and command are bounded by the
 * payload's Schema (`Limits.ts`), decoded before the request gets here.
 */
export const checkCreate = (
  request: CreateSessionRequest,
  shell: string
): Either.Either<NewSession, InvalidSessionInput> => {
  const command = request.command === undefined || request.command.trim() === "" ? shell : request.command
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
  return Either.right({ title, projectPath, command })
}

const checkDirectory = (path: string) =>
  Effect.flatMap(
    Effect.promise(() => stat(path).then((found) => found.isDirectory(), () => false)),
    (isDirectory) =>
      isDirectory
        ? Effect.void
        : Effect.fail(new InvalidSessionInput({ message: `project folder ${path} is not an existing directory` }))
  )

// ---------------------------------------------------------------------------
// The service

/** A session this service follows. */
interface Followed {
  row: TmuxSession
  session: Session
  /** When its panes last wrote, in milliseconds. */
  lastOutputAt: number
  readonly client: ControlClient
  readonly scope: Scope.CloseableScope
  readonly openedAt: number
  ended: boolean
  readonly listeners: Set<(notification: Notification) => void>
  /** Panes whose `%output` is paused on purpose (their output is piped). */
  readonly piped: Set<string>
}

const sameSession = Schema.equivalence(Session)
const sameRow = Schema.equivalence(TmuxSession)

/** `list-sessions` of one session, through its control client. */
const rowCommand = (tmuxId: string) =>
  `list-sessions -F ${quote(listFormat)} -f ${quote(`#{==:#{session_id},${tmuxId}}`)}`

const captureCommand = (tmuxId: string, lines: number) => `capture-pane -p -t ${quote(tmuxId)} -S ${-lines}`

/** The pane's `%output` goes to the session's control client again (after tmux paused it, or this daemon did). */
const continuePane = (entry: Followed, pane: string) =>
  entry.client.request(`refresh-client -A ${quote(`${pane}:continue`)}`, () => {})

const paneOf = (row: TmuxSession): PaneFacts => ({ process: row.paneCommand, title: row.paneTitle, dead: row.dead })

export const makeLocalSessions: Effect.Effect<
  LocalSessionsService,
  never,
  AgentState | DaemonConfig | SessionCache | Scope.Scope
> =
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    const cache = yield* SessionCache
    const agents = yield* AgentState
    const gate = yield* makeTmuxGate
    const tmux = yield* makeTmux(config.tmuxSocket, gate)
    const clock = yield* Effect.clock
    // Each followed session's client lives in a scope of its own under this one, which is made first so it
    // closes last: after the loops that could start new clients have stopped.
    const sessionsScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    // Listings and changes take turns: a listing never undoes a change made
    // while it ran, and two creates never pick the same tmux name.
    const lock = yield* Effect.makeSemaphore(1)
    const { shell } = config
    const followed = new Map<string, Followed>()
    let controlClients = 0

    // What notifications ask for, done by one fiber: sync callbacks only mark it.
    let relistWanted = false
    const dirty = new Set<string>()
    let wake: (() => void) | undefined
    const signal = () => {
      const resume = wake
      wake = undefined
      resume?.()
    }
    const woken = Effect.async<void>((resume) => {
      if (relistWanted || dirty.size > 0) return resume(Effect.void)
      wake = () => resume(Effect.void)
    })

    const listSessions = Effect.map(tmux.list(listArgs), parseListing)

    const findRow = (sessionId: string) =>
      Effect.flatMap(listSessions, (rows) => {
        const row = rows.find((candidate) => candidate.sessionId === sessionId)
        return row === undefined ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.succeed(row)
      })

    /**
     * Records a session's new state with its agent's, publishing it if it changed (always, with `force`).
     * While no hook is applied, so an older agent state never replaces a newer one.
     */
    const remember = (entry: Followed, session: Session, force = false) =>
      agents.exclusive(Effect.flatMap(agents.observe(session, paneOf(entry.row)), (observed) => {
        const previous = entry.session
        entry.session = observed
        return !force && sameSession(previous, observed) ? Effect.void : cache.upsertSession(observed)
      }))

    const notified = (sessionId: string) => (notification: Notification) => {
      const entry = followed.get(sessionId)
      if (entry === undefined) return
      switch (notification._tag) {
        case "Output":
          entry.lastOutputAt = clock.unsafeCurrentTimeMillis()
          dirty.add(sessionId)
          break
        case "Pause":
          // This daemon fell behind: the pane goes on, its listeners resync. A piped pane was paused on purpose.
          if (!entry.piped.has(notification.pane)) {
            continuePane(entry, notification.pane)
          }
          dirty.add(sessionId)
          break
        case "SessionRenamed":
        case "SubscriptionChanged":
          dirty.add(sessionId)
          break
        case "SessionsChanged":
        case "WindowsChanged":
        case "Exit":
          relistWanted = true
          break
      }
      for (const listener of entry.listeners) listener(notification)
      signal()
    }

    /** Set as the layer starts closing: a client ending then is no reason to start another. */
    let closing = false

    /** Starts following a listed session: its own control client, in a scope of its own. */
    const follow = (row: TmuxSession, lastOutput: string) =>
      Effect.gen(function*() {
        if (closing) return yield* new TmuxError({ message: "the daemon is stopping" })
        const scope = yield* Scope.fork(sessionsScope, ExecutionStrategy.sequential)
        const notify = notified(row.sessionId)
        const client = yield* Scope.extend(openControlClient(config.tmuxSocket, row.tmuxId, notify, gate), scope)
        controlClients++
        const now = clock.unsafeCurrentTimeMillis()
        const lastOutputAt = row.activity * 1000
        const entry: Followed = {
          row,
          session: toSession(row, config.computer, lastOutput, now, lastOutputAt),
          lastOutputAt,
          client,
          scope,
          openedAt: now,
          ended: false,
          listeners: new Set(),
          piped: new Set()
        }
        followed.set(row.sessionId, entry)
        // A client that ends means the session is gone (or its client was detached): the listing tells which.
        yield* Effect.forkIn(
          Effect.flatMap(client.ended, () =>
            Effect.sync(() => {
              entry.ended = true
              relistWanted = true
              signal()
            })),
          scope
        )
        // Dead panes show in a format, not a notification: tmux checks it for this client at most once a second.
        client.request(`refresh-client -B ${quote("dead::#{pane_dead}")}`, () => {})
        yield* remember(entry, entry.session, true)
        dirty.add(row.sessionId)
        signal()
        return entry
      })

    const unfollow = (sessionId: string) =>
      Effect.suspend(() => {
        const entry = followed.get(sessionId)
        if (entry === undefined) return Effect.void
        followed.delete(sessionId)
        return Effect.all([
          Scope.close(entry.scope, Exit.void),
          agents.forget(sessionId),
          cache.removeSession({ sessionId, computer: config.computer })
        ], { discard: true })
      })

    /** Brings the followed sessions in line with tmux's listing (a process: only on start and when tmux says sessions changed). */
    const relist = Effect.gen(function*() {
      relistWanted = false
      const rows = yield* listSessions
      const listed = new Set(rows.map((row) => row.sessionId))
      for (const sessionId of [...followed.keys()]) {
        if (!listed.has(sessionId)) yield* unfollow(sessionId)
      }
      const now = clock.unsafeCurrentTimeMillis()
      for (const row of rows) {
        const entry = followed.get(row.sessionId)
        if (entry === undefined) {
          // Started before this daemon: its credential file is written again, with this daemon's token.
          yield* agents.admit(row.sessionId)
          yield* follow(row, "")
          continue
        }
        if (entry.ended && now - entry.openedAt >= REFOLLOW_AFTER_MILLIS) {
          // Its client was detached or killed while the session lives on: a new one.
          yield* Scope.close(entry.scope, Exit.void)
          followed.delete(row.sessionId)
          const again = yield* follow(row, entry.session.lastOutput)
          again.lastOutputAt = entry.lastOutputAt
          continue
        }
        if (entry.ended) relistWanted = true
        if (!sameRow(entry.row, row)) {
          entry.row = row
          dirty.add(row.sessionId)
        }
      }
    })

    /** Captures a session's tail and re-reads its row, through its control client. */
    const refresh = (entry: Followed) =>
      Effect.gen(function*() {
        const [rowLines, captured] = yield* Effect.all([
          entry.client.run(rowCommand(entry.row.tmuxId)),
          entry.client.run(captureCommand(entry.row.tmuxId, CAPTURE_LINES))
        ])
        const row = rowLines.length === 0 ? undefined : parseSessionLine(rowLines[0]!)
        if (row !== undefined && Either.isRight(row)) entry.row = row.right
        const now = clock.unsafeCurrentTimeMillis()
        yield* remember(entry, toSession(entry.row, config.computer, lastOutputOf(captured.join("\n")), now, entry.lastOutputAt))
      })

    /** Reports a failing step once, not every time. */
    let lastFailure = ""
    const reported = <R>(what: string, effect: Effect.Effect<void, TmuxError, R>) =>
      effect.pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.sync(() => (lastFailure = "")),
          onFailure: (error) =>
            error.message === lastFailure
              ? Effect.void
              : Effect.zipRight(
                Effect.sync(() => (lastFailure = error.message)),
                Effect.logWarning(`${what} failed: ${error.message}`)
              )
        })
      )

    const work = Effect.gen(function*() {
      yield* woken
      if (relistWanted) yield* reported("listing tmux sessions", lock.withPermits(1)(relist))
      const batch = [...dirty].flatMap((sessionId) => {
        dirty.delete(sessionId)
        const entry = followed.get(sessionId)
        return entry === undefined ? [] : [entry]
      })
      // A session whose client ended is found again, or removed, by the next listing. Under the lock, so a
      // row read before an input was typed never replaces the row the input left (lastInput going back).
      yield* lock.withPermits(1)(Effect.forEach(batch, (entry) => Effect.ignore(refresh(entry)), { concurrency: 16, discard: true }))
      // Output arriving meanwhile waits for the next round: a flooding pane costs a capture per round, no more.
      yield* Effect.sleep(REFRESH_SPACING)
    })

    const idleCheck = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      return Effect.forEach(followed.values(), (entry) => {
        const status = statusOf(entry.row.dead, entry.lastOutputAt, now)
        return status === entry.session.status ? Effect.void : remember(entry, { ...entry.session, status })
      }, { discard: true })
    })

    // Sessions that survived a restart are in the cache, with their tails, before the daemon serves.
    relistWanted = true
    yield* reported(
      "listing tmux sessions",
      lock.withPermits(1)(Effect.zipRight(relist, Effect.suspend(() => agents.forgetAllBut(new Set(followed.keys())))))
    )
    yield* Effect.forEach([...followed.values()], (entry) => Effect.ignore(refresh(entry)), { concurrency: 16, discard: true })
    dirty.clear()
    yield* Effect.forkScoped(Effect.forever(surviving("following tmux", work)))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(IDLE_CHECK), surviving("idle check", idleCheck))))
    // Added after the loops, so run before they are stopped.
    yield* Effect.addFinalizer(() => Effect.sync(() => (closing = true)))

    const create = (request: CreateSessionRequest) =>
      Effect.gen(function*() {
        const input = yield* checkCreate(request, shell)
        if (input.projectPath !== null) yield* checkDirectory(input.projectPath)
        return yield* lock.withPermits(1)(Effect.gen(function*() {
          const taken = parseNames(yield* tmux.list(namesArgs))
          const sessionId = randomBytes(6).toString("hex")
          const args = createArgs({
            ...input,
            sessionId,
            createdAt: yield* Clock.currentTimeMillis,
            tmuxName: uniqueName(input.title, taken),
            lastInput: null
          }, agents.sessionEnv(sessionId))
          if (commandBytes(args) > Limits.tmuxCommandBytes) {
            return yield* new InvalidSessionInput({ message: "the command and project folder are too long for tmux" })
          }
          // Its hooks may run as soon as its program starts.
          yield* agents.admit(sessionId)
          // A create that failed half-way (say, its name was taken meanwhile) leaves nothing behind.
          const created = tmux.run(args).pipe(
            Effect.tapError(() => Effect.zipRight(Effect.ignore(tmux.run(discardArgs(sessionId))), agents.forget(sessionId)))
          )
          const [row] = parseListing(yield* created)
          if (row === undefined) return yield* new TmuxError({ message: "new-session: the new session is not listed" })
          const entry = followed.get(row.sessionId) ?? (yield* follow(row, ""))
          return entry.session
        }))
      })

    const sendInput = (sessionId: string, text: string) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const found = followed.get(sessionId)?.row ?? (yield* findRow(sessionId))
        const lastInput = storedInput(text)
        for (const args of sendArgs(found.tmuxId, text, lastInput)) yield* tmux.run(args)
        const entry = followed.get(sessionId)
        if (entry === undefined) {
          return toSession({ ...found, lastInput }, config.computer, "", yield* Clock.currentTimeMillis)
        }
        entry.row = { ...entry.row, lastInput }
        yield* remember(entry, { ...entry.session, lastInput })
        return entry.session
      }))

    const output = (sessionId: string, count: number) =>
      Effect.gen(function*() {
        const entry = followed.get(sessionId)
        if (entry === undefined) {
          const { tmuxId } = yield* findRow(sessionId)
          return tailLines(yield* tmux.run(["capture-pane", "-p", "-t", tmuxId, "-S", String(-count)]), count)
        }
        return tailLines((yield* entry.client.run(captureCommand(entry.row.tmuxId, count))).join("\n"), count)
      })

    const end = (sessionId: string) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const { tmuxId } = followed.get(sessionId)?.row ?? (yield* findRow(sessionId))
        yield* tmux.run(killArgs(tmuxId))
        yield* unfollow(sessionId)
      }))

    const control = (sessionId: string, listener: (notification: Notification) => void) =>
      Effect.suspend(() => {
        const entry = followed.get(sessionId)
        if (entry === undefined) return Effect.fail(new SessionNotFound({ sessionId }))
        entry.listeners.add(listener)
        return Effect.as(
          Effect.addFinalizer(() => Effect.sync(() => entry.listeners.delete(listener))),
          {
            tmuxId: entry.row.tmuxId,
            client: entry.client,
            piped: (pane) =>
              Effect.acquireRelease(Effect.sync(() => entry.piped.add(pane)), () =>
                Effect.sync(() => {
                  entry.piped.delete(pane)
                  continuePane(entry, pane)
                })),
            wrote: () => {
              entry.lastOutputAt = clock.unsafeCurrentTimeMillis()
              dirty.add(sessionId)
              signal()
            }
          } satisfies FollowedSession
        )
      })

    return {
      list: Effect.map(lock.withPermits(1)(relist), () =>
        [...followed.values()].map((entry) => entry.session).sort((a, b) => a.createdAt - b.createdAt)),
      create,
      sendInput,
      output,
      end,
      control,
      tmuxCalls: Effect.map(tmux.calls, (calls) => calls + controlClients)
    } satisfies LocalSessionsService
  })

export class LocalSessions extends Context.Tag("termfleet/LocalSessions")<LocalSessions, LocalSessionsService>() {
  static readonly layer: Layer.Layer<LocalSessions, never, AgentState | DaemonConfig | SessionCache> = Layer.scoped(
    LocalSessions,
    makeLocalSessions
  )
}
