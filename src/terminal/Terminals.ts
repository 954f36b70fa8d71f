/**
 * Live terminals of this computer's sessions. A session being watched has
 * one `PaneTerminal` for its active pane, fed by the session's control client
 * (`LocalSessions.control`); every viewer of it (a WebSocket client here, or
 * a peer's viewers through Redis) gets a snapshot at a position and then the
 * bytes after it. Keys go to tmux through the same control client, as hex
 * (`send-keys -H`), in the order they come.
 *
 * The pane's output is read through a pipe (`PanePipe`: `pipe-pane` into a
 * FIFO, with the pane's `%output` paused for the control client), which
 * costs tmux a fraction of control mode's escaping; a pane that already has
 * a pipe of the user's, or whose pipe could not start or stopped, is read
 * from the control client's `%output` instead.
 *
 * The state is built from tmux (`capture-pane -e` and the pane's modes) when
 * watching starts, and built again when output was lost (tmux paused the
 * pane for this daemon, or parsing fell too far behind): viewers then get a
 * fresh snapshot of a new epoch. A new pipe is started in the same write as
 * the captures: tmux runs them together, and a pipe starts at the pane's
 * parsed offset, so its first byte is the first after the captures.
 *
 * A size change comes through the control client and a piped pane's bytes
 * through the pipe: bytes written just before a resize may be parsed after
 * it (both tmux and xterm.js reflow lines; a full-screen program redraws). A session nobody watches any more is let go
 * `LINGER` later, so a viewer that reconnects meanwhile resumes where it was.
 *
 * Sizes: a pane has one size. The viewer who attached, typed or resized last
 * sets it (`resize-window`), like tmux's `window-size latest`; when the last
 * viewer leaves, the window goes back to tmux's own sizing.
 */
import { Context, Deferred, Effect, Either, ExecutionStrategy, Exit, Fiber, Layer, Option, Schema, Scope } from "effect"
import { join } from "node:path"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import { type Cols, type Position, type Rows, TerminalClosedReason } from "../domain/TerminalProtocol.js"
import type { FollowedSession } from "../local/LocalSessions.js"
import { LocalSessions } from "../local/LocalSessions.js"
import { type Notification, quote, sendBytesCommands } from "../local/ControlMode.js"
import { openPanePipe, preparePipeFolder, unpipeCommand } from "./PanePipe.js"
import { captureCommands, type PaneInfo, paneInfoCommand, parsePaneInfo, replayOf } from "./PaneScreen.js"
import type { PaneTerminal, ViewerSink } from "./PaneTerminal.js"

/**
 * `PaneTerminal` and xterm.js under it, a third of the daemon's code, load
 * when a pane is first watched: a daemon nobody watches a terminal of never
 * needs them, and starts sooner and smaller without.
 */
export const loadPaneTerminal: Effect.Effect<typeof PaneTerminal> = Effect.promise(() => import("./PaneTerminal.js")).pipe(
  Effect.map((module) => module.PaneTerminal)
)

export class TerminalUnavailable extends Schema.TaggedError<TerminalUnavailable>()("TerminalUnavailable", {
  reason: TerminalClosedReason,
  message: Schema.String
}) {}

export interface Viewer extends ViewerSink {
  /** The viewer can no longer be served (the session ended); it is detached. */
  readonly closed: (reason: TerminalClosedReason, message: string) => void
}

export interface Size {
  readonly cols: typeof Cols.Type
  readonly rows: typeof Rows.Type
}

export interface Attachment {
  /** Types bytes into the pane; this viewer's size becomes the pane's. */
  readonly keys: (bytes: Uint8Array) => Effect.Effect<void>
  readonly resize: (size: Size) => Effect.Effect<void>
  /** A fresh snapshot for this viewer, continuing where its output ended (a peer's viewer missed some of it). */
  readonly resnapshot: Effect.Effect<void>
}

export interface TerminalsService {
  /**
   * Watches a session of this computer until the scope closes. Without a
   * size the viewer leaves the pane's size alone until it types or resizes
   * (it speaks for viewers elsewhere, which set their sizes themselves).
   */
  readonly attach: (
    sessionId: string,
    size: Size | undefined,
    from: Position | undefined,
    viewer: Viewer
  ) => Effect.Effect<Attachment, TerminalUnavailable, Scope.Scope>
  /** Types bytes into a session's active pane without watching it; done once tmux took them. */
  readonly type: (sessionId: string, bytes: Uint8Array) => Effect.Effect<void, TerminalUnavailable>
  /** Sessions watched, and the output bytes their terminals hold or have yet to parse: bounded whatever the panes write. */
  readonly usage: Effect.Effect<{ readonly terminals: number; readonly bytes: number }>
}

/** How long a session nobody watches keeps its terminal, for viewers that reconnect. */
const LINGER = "30 seconds"

interface ViewerEntry {
  readonly viewer: Viewer
  size: Size | undefined
  detach: (() => void) | undefined
}

/** One pipe of a pane, read until its scope closes. */
interface Pipe {
  readonly scope: Scope.CloseableScope
  /** Its scope is closing: its reading ends because this daemon stopped it. */
  closing: boolean
  /** Bytes read before the terminal they follow was built; undefined once it takes them. */
  waiting: Array<Buffer> | undefined
}

interface Watched {
  readonly sessionId: string
  /** The class of its terminals, loaded before watching began. */
  readonly PaneTerminal: typeof PaneTerminal
  readonly followed: FollowedSession
  readonly scope: Scope.CloseableScope
  info: PaneInfo
  /** Undefined while the state is being (re)built from tmux. */
  terminal: PaneTerminal | undefined
  /** Output of the pane is taken only once the capture it follows has answered. */
  live: boolean
  /** While the pane is read through pipes: what they live in (stopping the pipe and continuing `%output` when closed). */
  piping: Scope.CloseableScope | undefined
  /** The pipe the terminal is fed from, or the one being started; undefined when fed from `%output`. */
  pipe: Pipe | undefined
  /** Someone else piped the pane: their pipe is not stopped when this daemon's piping ends. */
  pipeTaken: boolean
  readonly viewers: Set<ViewerEntry>
  readonly ready: Deferred.Deferred<void, TerminalUnavailable>
  linger: Fiber.RuntimeFiber<void> | undefined
  ended: boolean
}

const unavailable = (reason: TerminalClosedReason, message: string) => new TerminalUnavailable({ reason, message })

export class Terminals extends Context.Tag("termfleet/Terminals")<Terminals, TerminalsService>() {
  static readonly layer = Layer.scoped(
    Terminals,
    Effect.gen(function*() {
      const local = yield* LocalSessions
      const config = yield* DaemonConfig
      const clock = yield* Effect.clock
      // Without a folder for FIFOs, panes are read from `%output`.
      const pipeFolder = yield* preparePipeFolder(config.stateDir).pipe(
        Effect.tapError((error) => Effect.logWarning(`terminals are read through control mode: ${error.message}`)),
        Effect.option
      )
      let pipes = 0
      const layerScope = yield* Effect.scope
      const watched = new Map<string, Watched>()
      let lastEpoch = 0

      const nextEpoch = () => (lastEpoch = Math.max(clock.unsafeCurrentTimeMillis(), lastEpoch + 1))

      /** Tells the pane's viewers' sizes to tmux: the one who acted last wins. */
      const sizeTo = (entry: Watched, size: Size | undefined) => {
        if (size === undefined) return
        const pane = entry.terminal?.size ?? { cols: entry.info.cols, rows: entry.info.rows }
        if (pane.cols === size.cols && pane.rows === size.rows) return
        entry.followed.client.request(
          `resize-window -t ${quote(entry.info.window)} -x ${size.cols} -y ${size.rows}`,
          () => {}
        )
      }

      const attachViewer = (entry: Watched, viewerEntry: ViewerEntry, from: Position | undefined) => {
        if (entry.terminal !== undefined) viewerEntry.detach = entry.terminal.addViewer(viewerEntry.viewer, from)
      }

      /** The pane is read from `%output` from now on: its pipes are stopped, and its output continued. */
      const unpipe = (entry: Watched) => {
        const piping = entry.piping
        entry.piping = undefined
        entry.pipe = undefined
        return piping === undefined ? Effect.void : Scope.close(piping, Exit.void)
      }

      /** The pane is read from `%output`, its state built again from tmux. */
      const fallBack = (entry: Watched, done: () => void) =>
        Effect.runFork(Effect.zipRight(unpipe(entry), Effect.sync(() => rebuild(entry, entry.info, done))))

      /**
       * Captures the pane and starts a new terminal from it. Output that tmux
       * read before the captures ran is in them; output after the last answer
       * is fed to the new terminal: the reply sits exactly between the two in
       * the control client's stream, and a pipe started with the captures
       * starts after them.
       */
      const rebuild = (entry: Watched, info: PaneInfo, done: () => void) => {
        entry.live = false
        const piping = entry.piping
        if (piping === undefined || Option.isNone(pipeFolder)) return capture(entry, info, undefined, undefined, done)
        const pipe: Pipe = { scope: Effect.runSync(Scope.fork(piping, ExecutionStrategy.sequential)), closing: false, waiting: [] }
        const onData = (data: Buffer) => {
          entry.followed.wrote()
          if (entry.pipe !== pipe) return
          if (pipe.waiting === undefined) return entry.terminal?.feed(data)
          pipe.waiting.push(data)
        }
        // tmux stopped the pipe (someone piped the pane elsewhere): the pane is read from `%output` again.
        const onEnd = () => {
          if (entry.pipe !== pipe || pipe.closing || entry.ended) return
          entry.pipeTaken = true
          fallBack(entry, () => {})
        }
        const path = join(pipeFolder.value, String(++pipes))
        const opened = Effect.zipLeft(
          Scope.extend(openPanePipe(path, info.pane, onData, onEnd), pipe.scope),
          // Added last, so run first when the scope closes: before the reading ends.
          Scope.addFinalizer(pipe.scope, Effect.sync(() => (pipe.closing = true)))
        )
        Effect.runCallback(opened, {
          onExit: (exit) => {
            if (entry.ended || entry.piping !== piping) return done()
            if (Exit.isFailure(exit)) return void fallBack(entry, done)
            const previous = entry.pipe
            entry.pipe = pipe
            if (previous !== undefined) Effect.runFork(Scope.close(previous.scope, Exit.void))
            capture(entry, entry.info, exit.value, pipe, done)
          }
        })
      }

      const capture = (entry: Watched, info: PaneInfo, pipeStart: string | undefined, pipe: Pipe | undefined, done: () => void) => {
        const client = entry.followed.client
        const captures: Array<ReadonlyArray<string>> = []
        if (pipeStart !== undefined) {
          client.request(pipeStart, (reply) => {
            if (reply.failed && entry.pipe === pipe) fallBack(entry, () => {})
          })
          // Paused for this client alone, so tmux does not escape the bytes for it as well; still read (the pipe).
          client.request(`refresh-client -A ${quote(`${info.pane}:pause`)}`, () => {})
        }
        const commands = [...captureCommands(info, Limits.terminalScrollback), paneInfoCommand(info.pane)]
        commands.forEach((command, i) =>
          client.request(command, (reply) => {
            if (i < commands.length - 1) return void captures.push(reply.lines)
            const latest = reply.failed ? Either.left("") : parsePaneInfo(reply.lines[0] ?? "")
            const now = Either.getOrElse(latest, () => info)
            if (reply.failed || captures.length !== commands.length - 1 || entry.ended || entry.pipe !== pipe) return done()
            entry.info = now
            const previous = entry.terminal
            const terminal = new entry.PaneTerminal(
              nextEpoch(),
              now.cols,
              now.rows,
              replayOf(now, captures[0]!, captures[1]),
              () => rebuild(entry, entry.info, () => {})
            )
            entry.terminal = terminal
            entry.live = true
            previous?.dispose()
            for (const viewerEntry of entry.viewers) attachViewer(entry, viewerEntry, undefined)
            if (pipe !== undefined) {
              const waiting = pipe.waiting ?? []
              pipe.waiting = undefined
              for (const data of waiting) terminal.feed(data)
            }
            done()
          })
        )
      }

      const listener = (entry: Watched) => (notification: Notification) => {
        switch (notification._tag) {
          case "Output":
            if (entry.live && entry.piping === undefined && notification.pane === entry.info.pane) entry.terminal?.feed(notification.data)
            return
          case "Pause":
            // A piped pane's is this daemon's own.
            if (entry.piping === undefined && notification.pane === entry.info.pane) rebuild(entry, entry.info, () => {})
            return
          case "LayoutChange":
            if (notification.window !== entry.info.window) return
            for (const pane of notification.panes) {
              if (pane.pane === entry.info.pane) entry.terminal?.resize(pane.cols, pane.rows)
            }
            return
        }
      }

      const forget = (entry: Watched) =>
        Effect.suspend(() => {
          if (watched.get(entry.sessionId) === entry) watched.delete(entry.sessionId)
          entry.ended = true
          entry.terminal?.dispose()
          entry.terminal = undefined
          return Scope.close(entry.scope, Exit.void)
        })

      const start = (sessionId: string) =>
        Effect.gen(function*() {
          const PaneTerminal = yield* loadPaneTerminal
          const scope = yield* Scope.fork(layerScope, ExecutionStrategy.sequential)
          const ready = yield* Deferred.make<void, TerminalUnavailable>()
          // Registered before the first capture is asked for, so no output after it is missed.
          let entry: Watched | undefined
          const followed = yield* Scope.extend(
            local.control(sessionId, (notification) => entry !== undefined && listener(entry)(notification)),
            scope
          ).pipe(
            Effect.catchAll(() =>
              Effect.zipRight(Scope.close(scope, Exit.void), Effect.fail(unavailable("not_found", `no session '${sessionId}' on this computer`)))
            )
          )
          const info = yield* followed.client.run(paneInfoCommand(followed.tmuxId)).pipe(
            Effect.flatMap((lines) => Either.mapLeft(parsePaneInfo(lines[0] ?? ""), (message) => unavailable("unavailable", message))),
            Effect.mapError((e) => (e._tag === "TerminalUnavailable" ? e : unavailable("unavailable", e.message))),
            Effect.tapError(() => Scope.close(scope, Exit.void))
          )
          const created: Watched = {
            sessionId,
            PaneTerminal,
            followed,
            scope,
            info,
            terminal: undefined,
            live: false,
            piping: undefined,
            pipe: undefined,
            pipeTaken: false,
            viewers: new Set(),
            ready,
            linger: undefined,
            ended: false
          }
          entry = created
          watched.set(sessionId, created)
          // A pane the user pipes somewhere is left to its pipe: read from `%output`.
          if (Option.isSome(pipeFolder) && !info.piped) {
            const piping = yield* Scope.fork(scope, ExecutionStrategy.sequential)
            // Closed first: the pipe stops, then the pane's `%output` continues.
            yield* Scope.extend(followed.piped(info.pane), piping)
            yield* Scope.addFinalizer(piping, Effect.sync(() => {
              if (!created.pipeTaken) followed.client.request(unpipeCommand(info.pane), () => {})
            }))
            created.piping = piping
          }
          // The session ended: its viewers are told, and it is forgotten. Not in the entry's own scope, which
          // forgetting closes (a fiber closing the scope it runs in would wait for itself). Not in the entry's own scope, which
          // forgetting closes (a fiber closing the scope it runs in would wait for itself).
          yield* Effect.forkIn(
            Effect.flatMap(followed.client.ended, () =>
              Effect.zipRight(
                Effect.sync(() => created.viewers.forEach((v) => v.viewer.closed("ended", `session '${sessionId}' ended`))),
                forget(created)
              )),
            layerScope
          )
          rebuild(created, info, () =>
            Deferred.unsafeDone(
              ready,
              created.terminal === undefined ? Exit.fail(unavailable("unavailable", "tmux did not answer the capture")) : Exit.void
            ))
          return created
        })

      // One start at a time: viewers attaching together (a local one and a peer's) share one terminal, and a
      // pane gets one pipe (a second would replace the first).
      const starting = yield* Effect.makeSemaphore(1)
      const watch = (sessionId: string): Effect.Effect<Watched, TerminalUnavailable> =>
        starting.withPermits(1)(Effect.suspend(() => {
          const found = watched.get(sessionId)
          return found !== undefined && !found.ended ? Effect.succeed(found) : start(sessionId)
        })).pipe(
          Effect.tap((entry) => Deferred.await(entry.ready)),
          Effect.tapError(() => Effect.sync(() => watched.delete(sessionId)))
        )

      const leave = (entry: Watched, viewerEntry: ViewerEntry) =>
        Effect.suspend(() => {
          viewerEntry.detach?.()
          entry.viewers.delete(viewerEntry)
          if (entry.viewers.size > 0 || entry.ended) return Effect.void
          // Back to tmux's own sizing, and the terminal kept a while for a viewer coming back.
          entry.followed.client.request(`set-option -w -u -t ${quote(entry.info.window)} window-size`, () => {})
          // Interruptible: a viewer leaves in a finalizer, whose fibers would otherwise not be.
          return Effect.map(Effect.forkIn(Effect.interruptible(Effect.delay(forget(entry), LINGER)), layerScope), (fiber) => {
            entry.linger = fiber
          })
        })

      const attach = (sessionId: string, size: Size | undefined, from: Position | undefined, viewer: Viewer) =>
        Effect.gen(function*() {
          const entry = yield* watch(sessionId)
          if (entry.linger !== undefined) {
            yield* Fiber.interrupt(entry.linger)
            entry.linger = undefined
          }
          const viewerEntry: ViewerEntry = { viewer, size, detach: undefined }
          entry.viewers.add(viewerEntry)
          yield* Effect.addFinalizer(() => leave(entry, viewerEntry))
          sizeTo(entry, size)
          attachViewer(entry, viewerEntry, from)
          return {
            keys: (bytes) =>
              Effect.sync(() => {
                sizeTo(entry, viewerEntry.size)
                for (const command of sendBytesCommands(entry.info.pane, bytes)) entry.followed.client.request(command, () => {})
              }),
            resize: (next) =>
              Effect.sync(() => {
                viewerEntry.size = next
                sizeTo(entry, next)
              }),
            resnapshot: Effect.sync(() => entry.terminal?.resnapshot(viewer))
          } satisfies Attachment
        })

      /** Done once tmux has taken every byte (its answers to the `send-keys`, which run in order). */
      const type = (sessionId: string, bytes: Uint8Array) =>
        Effect.scoped(Effect.gen(function*() {
          const followed = yield* Effect.mapError(
            local.control(sessionId, () => {}),
            () => unavailable("not_found", `no session '${sessionId}' on this computer`)
          )
          yield* Effect.forEach(sendBytesCommands(followed.tmuxId, bytes), (command) => followed.client.run(command), { discard: true }).pipe(
            Effect.mapError((e) => unavailable("unavailable", `tmux did not take the keys: ${e.message}`))
          )
        }))

      return {
        attach,
        type,
        usage: Effect.sync(() => ({
          terminals: watched.size,
          bytes: [...watched.values()].reduce((total, entry) => {
            const usage = entry.terminal?.usage
            return total + (usage === undefined ? 0 : Math.max(usage.held, usage.unparsed))
          }, 0)
        }))
      } satisfies TerminalsService
    })
  )
}
