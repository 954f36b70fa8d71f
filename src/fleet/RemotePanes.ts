/**
 * Live terminals of other computers' sessions, for this daemon's viewers.
 * Each session watched here has a mirror: a relaying `PaneTerminal` at the
 * owner's positions, fed from the session's `terminal:` stream (read on a
 * connection of its own), so every viewer here is served as a local one is
 * (snapshot, output, resume from its last position) whatever their number,
 * from one read of the stream. It parses nothing: a viewer that needs a
 * snapshot gets the owner's, asked for in the owner's input stream. The sessions mirrored are listed in this computer's
 * heartbeat (`SessionCache.watching`): their owners stream them while listed.
 *
 * A mirror starts from a snapshot it asks the owner for, and asks again when
 * entries are missing (a position skipped: trimmed, Redis restarted empty)
 * or the owner started afresh; it takes a snapshot of a newer epoch (the
 * owner restarted) by itself, and its viewers get a fresh snapshot.
 *
 * Keys, sizes and asks go into the owner's `terminal-input:` stream, in the
 * order they come, without waiting for an answer.
 *
 * An owner that leaves the fleet sends no `closed` entry: its mirrors are
 * closed (viewers told `offline`) when the cache drops it, at once if its
 * heartbeat expired, `COME_BACK_MILLIS` after its goodbye if it is not back
 * (a restart is waited for); a session the owner removed closes its mirror.
 */
import { Clock, Context, Deferred, Effect, Either, Exit, Fiber, Layer, Option, Queue, Schedule, type Scope, SubscriptionRef } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import { decodePaneEntry, encodeTerminalInput, type PaneEntry, type TerminalInput } from "../domain/PeerTerminal.js"
import { parsePosition, type Position, type TerminalClosedReason } from "../domain/TerminalProtocol.js"
import { Ttl } from "../domain/Model.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
import { surviving } from "../runtime/Survive.js"
import type { PaneTerminal } from "../terminal/PaneTerminal.js"
import { type Attachment, loadPaneTerminal, type Size, TerminalUnavailable, type Viewer } from "../terminal/Terminals.js"
import { RedisClient, type StreamEntry, type XAddEntry } from "./RedisClient.js"
import { redisKeys, Retention } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { REQUEST_TIMEOUT_MILLIS, Requests } from "./Requests.js"
import { Seal } from "./Seal.js"
import { reconnectSchedule } from "./StreamConsumer.js"

export interface RemotePanesService {
  /** Watches a session of `computer` until the scope closes. */
  readonly attach: (
    computer: string,
    sessionId: string,
    size: Size,
    from: Position | undefined,
    viewer: Viewer
  ) => Effect.Effect<Attachment, TerminalUnavailable, Scope.Scope>
  /** Types bytes into a session of `computer` without watching it; done once that computer confirms tmux took them. */
  readonly type: (computer: string, sessionId: string, bytes: Uint8Array) => Effect.Effect<void, TerminalUnavailable>
}

/** How long a session nobody here watches keeps its mirror (and stays listed), for viewers that reconnect. */
const LINGER = "30 seconds"
/** How long one blocking read of a pane's stream waits; a mirror still without a snapshot asks again after it. */
const BLOCK_MILLIS = 2_000
/** Asks for a snapshot are at least this far apart. */
const ASK_AGAIN_MILLIS = 1_000
/** How long a computer that said goodbye (stopped, perhaps to restart) has to come back before its viewers are told it is offline. */
const COME_BACK_MILLIS = 30_000

interface ViewerEntry {
  readonly viewer: Viewer
  size: Size
  /** Set once it is attached to the mirror's terminal. */
  detach: (() => void) | undefined
}

interface Mirror {
  readonly computer: string
  readonly sessionId: string
  readonly stream: string
  /** The class of its terminal, loaded before watching began. */
  readonly PaneTerminal: typeof PaneTerminal
  terminal: PaneTerminal | undefined
  readonly viewers: Set<ViewerEntry>
  readonly ready: Deferred.Deferred<void, TerminalUnavailable>
  askedAt: number
  reader: Fiber.RuntimeFiber<void> | undefined
  linger: Fiber.RuntimeFiber<void> | undefined
}

const unavailable = (message: string) => new TerminalUnavailable({ reason: "unavailable", message })

export class RemotePanes extends Context.Tag("termfleet/RemotePanes")<RemotePanes, RemotePanesService>() {
  static readonly layer = Layer.scoped(
    RemotePanes,
    Effect.gen(function*() {
      const config = yield* DaemonConfig
      const keys = redisKeys(config.prefix)
      const [cache, redis, requests, seal, stats, status] = yield* Effect.all([SessionCache, RedisClient, Requests, Seal, Stats, RedisStatus])
      const layerScope = yield* Effect.scope
      const mirrors = new Map<string, Mirror>()
      const keyOf = (computer: string, sessionId: string) => `${computer}\u0000${sessionId}`

      // One writer for every owner's input stream: entries of one owner are written in the order they came.
      const input = yield* Queue.dropping<readonly [computer: string, input: TerminalInput["input"]]>(Limits.peerTerminalInputs)
      const send = (computer: string, message: TerminalInput["input"]) => {
        if (!Queue.unsafeOffer(input, [computer, message])) Effect.runFork(Effect.logWarning(`input for ${computer} dropped: too much waiting`))
      }
      yield* Effect.gen(function*() {
        const batch = [yield* Queue.take(input), ...(yield* Queue.takeAll(input))]
        const now = yield* Clock.currentTimeMillis
        const entries: Array<XAddEntry> = []
        for (const [computer, message] of batch) {
          const stream = keys.terminalInput(computer)
          const body = encodeTerminalInput({ deadline: now + REQUEST_TIMEOUT_MILLIS, input: message })
          entries.push({ key: stream, fields: yield* seal.seal(stream, body), maxLen: 1_000, ttlMillis: Retention.requestsMillis })
        }
        // Sealed once: a batch written again after a failure is refused as a replay where it already landed.
        yield* status.report("write", redis.xaddBatch(entries)).pipe(
          Effect.retry(reconnectSchedule.pipe(Schedule.upTo(`${REQUEST_TIMEOUT_MILLIS} millis`))),
          Effect.catchAll((error) => Effect.logWarning(`terminal input lost: ${error.message}`))
        )
      }).pipe((step) => surviving("writing terminal input", step), Effect.forever, Effect.forkScoped)

      const listWatched = Effect.suspend(() =>
        SubscriptionRef.set(cache.watching, [...mirrors.values()].map(({ computer, sessionId }) => ({ computer, sessionId })))
      )

      const ask = (mirror: Mirror) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          if (now - mirror.askedAt < ASK_AGAIN_MILLIS) return
          mirror.askedAt = now
          send(mirror.computer, { _tag: "snapshot", sessionId: mirror.sessionId })
        })

      const forget = (mirror: Mirror) =>
        Effect.suspend(() => {
          if (mirrors.get(keyOf(mirror.computer, mirror.sessionId)) !== mirror) return Effect.void
          mirrors.delete(keyOf(mirror.computer, mirror.sessionId))
          mirror.terminal?.dispose()
          mirror.terminal = undefined
          return Effect.zipRight(listWatched, mirror.reader === undefined ? Effect.void : Fiber.interrupt(mirror.reader))
        })

      /** Nothing more comes for the mirror: its viewers are told why, and it is forgotten. */
      const close = (mirror: Mirror, reason: TerminalClosedReason, message: string) => {
        Deferred.unsafeDone(mirror.ready, Exit.fail(new TerminalUnavailable({ reason, message })))
        // Viewers still waiting for the first snapshot are told by `ready`.
        for (const viewer of mirror.viewers) if (viewer.detach !== undefined) viewer.viewer.closed(reason, message)
        mirror.viewers.clear()
        Effect.runFork(forget(mirror))
      }

      /** One entry of the pane's stream, in order; answers whether the mirror must ask for a snapshot. */
      const apply = (mirror: Mirror, entry: PaneEntry): boolean => {
        const terminal = mirror.terminal
        const [epoch, offset] = terminal === undefined ? [-1, -1] : parsePosition(terminal.position)
        switch (entry._tag) {
          case "snapshot": {
            const [at, atOffset] = parsePosition(entry.position)
            // One where the mirror is: for its viewers waiting for a snapshot. An older one (read again, or replayed): nothing new.
            if (at === epoch && atOffset === offset) terminal?.ownersSnapshot(entry.position, entry.cols, entry.rows, entry.data)
            if (at < epoch || (at === epoch && atOffset <= offset)) return false
            const askOwner = () => Effect.runFork(ask(mirror))
            const next = new mirror.PaneTerminal(at, entry.cols, entry.rows, entry.data, askOwner, atOffset, askOwner)
            mirror.terminal = next
            terminal?.dispose()
            for (const viewer of mirror.viewers) if (viewer.detach !== undefined) viewer.detach = next.addViewer(viewer.viewer)
            Deferred.unsafeDone(mirror.ready, Exit.void)
            return false
          }
          case "output": {
            const [at, end] = parsePosition(entry.position)
            if (terminal === undefined || at > epoch) return true
            const bytes = Buffer.from(entry.data, "base64")
            const start = end - bytes.length
            if (at < epoch || end <= offset) return false
            if (start > offset) return true
            terminal.feed(bytes.subarray(offset - start))
            return false
          }
          case "resized":
            terminal?.resize(entry.cols, entry.rows)
            return false
          case "closed":
            close(mirror, entry.reason, entry.message)
            return false
        }
      }

      const receive = (mirror: Mirror, entries: ReadonlyArray<StreamEntry>) =>
        Effect.gen(function*() {
          let wanted = false
          for (const entry of entries) {
            const opened = Either.flatMap(
              seal.verify(mirror.stream, entry.fields),
              (o) => (o.from === mirror.computer ? decodePaneEntry(o.body) : Either.left(`written by '${o.from}'`))
            )
            if (Either.isLeft(opened)) {
              yield* stats.add("decodeFailures")
              yield* Effect.logDebug(`skipped ${entry.id} of ${mirror.stream}: ${opened.left}`)
              continue
            }
            wanted = apply(mirror, opened.right) || wanted
            if (!mirrors.has(keyOf(mirror.computer, mirror.sessionId))) return
          }
          if (wanted) yield* ask(mirror)
        })

      /** Reads the pane's stream from `after`, for as long as the mirror lives. */
      const read = (mirror: Mirror, after: string) =>
        Effect.scoped(Effect.gen(function*() {
          const reader = yield* redis.reader
          let cursor = after
          const step = Effect.gen(function*() {
            const entries = yield* reader.xread(mirror.stream, cursor, { blockMillis: BLOCK_MILLIS, count: 64 })
            if (entries.length > 0) cursor = entries[entries.length - 1]!.id
            yield* receive(mirror, entries)
            // Still no snapshot (the owner was away, or the ask lost): asked again.
            if (mirror.terminal === undefined || mirror.terminal.asking) yield* ask(mirror)
          })
          yield* status.report("read", step).pipe(
            Effect.retry(reconnectSchedule),
            (step) => surviving(`reading ${mirror.stream}`, step),
            Effect.forever
          )
        })).pipe(
          Effect.retry(reconnectSchedule),
          Effect.catchAll((error) => Effect.logWarning(`stopped reading ${mirror.stream}: ${error.message}`))
        )

      const start = (computer: string, sessionId: string) =>
        Effect.gen(function*() {
          const stream = keys.pane(computer, sessionId)
          const PaneTerminal = yield* loadPaneTerminal
          // Read from what is there now: the snapshot asked for comes after it.
          const after = yield* redis.lastId(stream).pipe(
            Effect.mapError((e) => unavailable(`Redis: ${e.message}`)),
            Effect.map(Option.getOrElse(() => "0"))
          )
          const mirror: Mirror = {
            computer,
            sessionId,
            stream,
            PaneTerminal,
            terminal: undefined,
            viewers: new Set(),
            ready: yield* Deferred.make<void, TerminalUnavailable>(),
            askedAt: 0,
            reader: undefined,
            linger: undefined
          }
          mirrors.set(keyOf(computer, sessionId), mirror)
          yield* listWatched
          mirror.reader = yield* Effect.forkIn(read(mirror, after), layerScope)
          yield* ask(mirror)
          return mirror
        })

      const leave = (mirror: Mirror, entry: ViewerEntry) =>
        Effect.suspend(() => {
          entry.detach?.()
          mirror.viewers.delete(entry)
          if (mirror.viewers.size > 0 || !mirrors.has(keyOf(mirror.computer, mirror.sessionId))) return Effect.void
          // Interruptible: a viewer leaves in a finalizer, whose fibers would otherwise not be.
          return Effect.map(Effect.forkIn(Effect.interruptible(Effect.delay(forget(mirror), LINGER)), layerScope), (fiber) => {
            mirror.linger = fiber
          })
        })

      const online = (computer: string) =>
        Effect.flatMap(cache.computer(computer), (found) =>
          Option.isSome(found) ? Effect.void : Effect.fail(unavailable(`computer '${computer}' is not online`)))

      const attach = (computer: string, sessionId: string, size: Size, from: Position | undefined, viewer: Viewer) =>
        Effect.gen(function*() {
          yield* online(computer)
          const mirror = mirrors.get(keyOf(computer, sessionId)) ?? (yield* start(computer, sessionId))
          if (mirror.linger !== undefined) {
            yield* Fiber.interrupt(mirror.linger)
            mirror.linger = undefined
          }
          const entry: ViewerEntry = { viewer, size, detach: undefined }
          mirror.viewers.add(entry)
          yield* Effect.addFinalizer(() => leave(mirror, entry))
          // Attaching sets the pane's size, as typing and resizing do.
          send(computer, { _tag: "resize", sessionId, ...size })
          yield* Deferred.await(mirror.ready).pipe(
            Effect.timeoutFail({
              duration: REQUEST_TIMEOUT_MILLIS,
              onTimeout: () => unavailable(`${computer} did not send the terminal within ${REQUEST_TIMEOUT_MILLIS / 1000} s`)
            })
          )
          if (mirror.terminal !== undefined && mirror.viewers.has(entry)) entry.detach = mirror.terminal.addViewer(viewer, from)
          return {
            keys: (bytes) =>
              Effect.sync(() => send(computer, { _tag: "keys", sessionId, data: Buffer.from(bytes).toString("base64"), size: entry.size })),
            resize: (next) =>
              Effect.sync(() => {
                entry.size = next
                send(computer, { _tag: "resize", sessionId, ...next })
              }),
            resnapshot: Effect.sync(() => mirror.terminal?.resnapshot(viewer))
          } satisfies Attachment
        })

      // A computer that leaves the fleet for good, or a session its owner removed, sends no `closed` entry:
      // their viewers are told here, else they would wait for the pane forever.
      const mirrorsOf = (computer: string) => [...mirrors.values()].filter((mirror) => mirror.computer === computer)
      const offline = (computer: string, message: string) =>
        Effect.sync(() => mirrorsOf(computer).forEach((mirror) => close(mirror, "offline", message)))
      // Only sessions and computers gone: the session changes of the traffic do not wake it.
      const changes = yield* cache.subscribeTo((change) => change._tag === "SessionRemoved" || change._tag === "ComputerRemoved")
      yield* Queue.takeBetween(changes, 1, config.limits.readBatch).pipe(
        Effect.flatMap((batch) =>
          Effect.forEach(batch, (change) => {
            if (mirrors.size === 0) return Effect.void
            switch (change._tag) {
              case "SessionRemoved": {
                const mirror = mirrors.get(keyOf(change.ref.computer, change.ref.sessionId))
                return Effect.sync(() => {
                  if (mirror !== undefined) close(mirror, "ended", `session '${change.ref.sessionId}' was removed by ${change.ref.computer}`)
                })
              }
              case "ComputerRemoved":
                if (!change.goodbye) {
                  return offline(change.name, `computer '${change.name}' left the fleet: no heartbeat within ${Ttl.computerMillis / 1000} s`)
                }
                // It said goodbye: perhaps restarting. Its viewers wait for it a while (their mirrors ask it for a snapshot).
                return Effect.forkIn(
                  Effect.delay(
                    Effect.flatMap(cache.computer(change.name), (found) =>
                      Option.isSome(found)
                        ? Effect.void
                        : offline(change.name, `computer '${change.name}' stopped and was not back within ${COME_BACK_MILLIS / 1000} s`)),
                    COME_BACK_MILLIS
                  ),
                  layerScope
                )
              default:
                return Effect.void
            }
          }, { discard: true })
        ),
        (step) => surviving("telling viewers of computers and sessions gone", step),
        Effect.forever,
        Effect.forkScoped
      )

      // A request, not terminal input: the owner answers once tmux took the keys, so the caller knows they were typed.
      const type = (computer: string, sessionId: string, bytes: Uint8Array) =>
        Effect.zipRight(
          online(computer),
          requests.call(computer, { _tag: "keys", sessionId, data: Buffer.from(bytes).toString("base64") }).pipe(
            Effect.mapError((e) => unavailable(`the keys for '${sessionId}' were not confirmed: ${e.message}`)),
            Effect.flatMap((reply) =>
              reply._tag !== "failed"
                ? Effect.void
                : Effect.fail(new TerminalUnavailable({ reason: reply.kind === "SessionNotFound" ? "not_found" : "unavailable", message: reply.message })))
          )
        )

      return { attach, type } satisfies RemotePanesService
    })
  )

  /** A local-only daemon: other computers' sessions cannot be reached. */
  static readonly notInFleet = Layer.succeed(RemotePanes, {
    attach: (computer) => Effect.fail(notInFleet(computer)),
    type: (computer) => Effect.fail(notInFleet(computer))
  })
}

const notInFleet = (computer: string) =>
  new TerminalUnavailable({ reason: "unavailable", message: `sessions of '${computer}' cannot be reached: this daemon runs local-only` })
