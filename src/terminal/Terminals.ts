/**
 * Live terminals of this computer's sessions. A session being watched has
 * one `PaneTerminal` for its active pane, fed by the session's control client
 * (`LocalSessions.control`); every viewer of it (a WebSocket client here, or
 * a peer's viewers through Redis) gets a snapshot at a position and then the
 * bytes after it. Keys go to tmux through the same control client, as hex
 * (`send-keys -H`), in the order they come.
 *
 * The state is built from tmux (`capture-pane -e` and the pane's modes) when
 * watching starts, and built again when output was lost (tmux paused the
 * pane for this daemon, or parsing fell too far behind): viewers then get a
 * fresh snapshot of a new epoch. A session nobody watches any more is let go
 * `LINGER` later, so a viewer that reconnects meanwhile resumes where it was.
 *
 * Sizes: a pane has one size. The viewer who attached, typed or resized last
 * sets it (`resize-window`), like tmux's `window-size latest`; when the last
 * viewer leaves, the window goes back to tmux's own sizing.
 */
import { Context, Deferred, Effect, Either, ExecutionStrategy, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { Limits } from "../domain/Limits.js"
import { type Cols, type Position, type Rows, TerminalClosedReason } from "../domain/TerminalProtocol.js"
import type { FollowedSession } from "../local/LocalSessions.js"
import { LocalSessions } from "../local/LocalSessions.js"
import { type Notification, quote, sendBytesCommands } from "../local/ControlMode.js"
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
      const clock = yield* Effect.clock
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

      /**
       * Captures the pane and starts a new terminal from it. Output that tmux
       * read before the captures ran is in them; output after the last answer
       * is fed to the new terminal: the reply sits exactly between the two in
       * the control client's stream.
       */
      const rebuild = (entry: Watched, info: PaneInfo, done: () => void) => {
        entry.live = false
        const client = entry.followed.client
        const captures: Array<ReadonlyArray<string>> = []
        const commands = [...captureCommands(info, Limits.terminalScrollback), paneInfoCommand(info.pane)]
        commands.forEach((command, i) =>
          client.request(command, (reply) => {
            if (i < commands.length - 1) return void captures.push(reply.lines)
            const latest = reply.failed ? Either.left("") : parsePaneInfo(reply.lines[0] ?? "")
            const now = Either.getOrElse(latest, () => info)
            if (reply.failed || captures.length !== commands.length - 1 || entry.ended) return done()
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
            done()
          })
        )
      }

      const listener = (entry: Watched) => (notification: Notification) => {
        switch (notification._tag) {
          case "Output":
            if (entry.live && notification.pane === entry.info.pane) entry.terminal?.feed(notification.data)
            return
          case "Pause":
            if (notification.pane === entry.info.pane) rebuild(entry, entry.info, () => {})
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
            viewers: new Set(),
            ready,
            linger: undefined,
            ended: false
          }
          entry = created
          watched.set(sessionId, created)
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

      const watch = (sessionId: string): Effect.Effect<Watched, TerminalUnavailable> =>
        Effect.suspend(() => {
          const found = watched.get(sessionId)
          return found !== undefined && !found.ended ? Effect.succeed(found) : start(sessionId)
        }).pipe(
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
