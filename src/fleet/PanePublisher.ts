/**
 * This computer's live terminals, for viewers on other computers. A session
 * is streamed while some live peer lists it in its heartbeat (`terminals`),
 * or for `LEASE` after a peer asked for a snapshot of it (the ask can come
 * before the heartbeat that lists it): one viewer of it here (`Terminals`),
 * whose snapshots, output, sizes and end are written, in order, into the
 * session's `terminal:` stream. The pane's output is numbered by position,
 * so a reader knows where each entry starts and whether any is missing.
 *
 * What peers' viewers do comes in on this computer's `terminal-input:`
 * stream, read by one fiber, so keys reach the pane in the order they were
 * typed, once each (the seal's replay window refuses an entry written
 * twice).
 */
import { Clock, Effect, Either, Fiber, Layer, Queue, Stream } from "effect"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Limits } from "../domain/Limits.js"
import { decodeTerminalInput, encodePaneEntry, encodePaneOutput, type PaneEntry, type TerminalInput } from "../domain/PeerTerminal.js"
import { SessionCache } from "../cache/SessionCache.js"
import { Stats } from "../runtime/Stats.js"
import { surviving } from "../runtime/Survive.js"
import { type Attachment, type Size, Terminals, type Viewer } from "../terminal/Terminals.js"
import { RedisClient, type XAddEntry } from "./RedisClient.js"
import { redisKeys, Retention } from "./RedisKeys.js"
import { RedisStatus } from "./RedisStatus.js"
import { STALE_AFTER_MILLIS } from "./Requests.js"
import { Seal } from "./Seal.js"
import { consumeStream, reconnectSchedule } from "./StreamConsumer.js"

/** How long a session is streamed after a peer asked for its snapshot, without a heartbeat listing it. */
const LEASE_MILLIS = 30_000
/** Entries a pane's stream keeps: as many bytes as the pane holds here. */
const PANE_STREAM_ENTRIES = Limits.terminalHeldBytes / Limits.terminalOutputFrameBytes

interface Publication {
  readonly sessionId: string
  readonly stream: string
  /** Entries to write, serialised; `closed` marks the last. */
  queued: Array<{ readonly body: string; readonly closed: boolean }>
  /** Bytes of the entries in `queued`. */
  pending: number
  /** Wakes the writer when entries are queued. */
  readonly wake: Queue.Queue<void>
  /** Output is dropped until the next snapshot (it fell behind: the snapshot covers it). */
  skipping: boolean
  attachment: Attachment | undefined
  /** The size the last peer's viewer asked for before the attachment was there, given to it once it is. */
  size: Size | undefined
  /** The last ask for a snapshot, which holds the lease. */
  askedAt: number
  /** The session ended, or was never there: its `closed` entry is written. */
  ended: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
}

export const PanePublisher = Layer.scopedDiscard(Effect.gen(function*() {
  const config = yield* DaemonConfig
  const self = config.computer
  const keys = redisKeys(config.prefix)
  const [cache, redis, seal, stats, status, terminals] = yield* Effect.all([SessionCache, RedisClient, Seal, Stats, RedisStatus, Terminals])
  const layerScope = yield* Effect.scope
  const publications = new Map<string, Publication>()

  const enqueueBody = (publication: Publication, body: string, closed = false) => {
    publication.pending += body.length
    publication.queued.push({ body, closed })
    Queue.unsafeOffer(publication.wake, undefined)
  }
  const enqueue = (publication: Publication, entry: PaneEntry) => enqueueBody(publication, encodePaneEntry(entry), entry._tag === "closed")

  /** The viewer that writes what it is shown into the session's stream. */
  const sinkOf = (publication: Publication): Viewer => ({
    snapshot: (position, cols, rows, data) => {
      publication.skipping = false
      enqueue(publication, { _tag: "snapshot", position, cols, rows, data })
    },
    output: (position, _data, base64) => {
      if (publication.skipping) return
      // Behind by more than a pane holds (Redis away, or slower than the pane): a snapshot instead.
      if (publication.pending > Limits.terminalHeldBytes) {
        // What waits is dropped too (the snapshot covers it), so the queue stays bounded however long Redis is away.
        publication.queued = publication.queued.filter((entry) => entry.closed)
        publication.pending = 0
        publication.skipping = true
        // Not from within the pane's own delivery, which this is.
        return queueMicrotask(() => {
          const attachment = publication.attachment
          if (attachment === undefined) publication.skipping = false
          else Effect.runSync(attachment.resnapshot)
        })
      }
      // One frame, one entry: at most `terminalOutputFrameBytes`.
      enqueueBody(publication, encodePaneOutput(position, base64()))
    },
    resized: (cols, rows) => enqueue(publication, { _tag: "resized", cols, rows }),
    closed: (reason, message) => enqueue(publication, { _tag: "closed", reason, message })
  })

  /** Writes the queued entries, a batch per round trip, until the `closed` one. */
  const write = (publication: Publication) =>
    Effect.gen(function*() {
      while (true) {
        yield* Queue.take(publication.wake)
        const queued = publication.queued
        publication.queued = []
        publication.pending = 0
        const entries: Array<XAddEntry> = []
        let ended = false
        for (const { body, closed } of queued) {
          const fields = yield* seal.seal(publication.stream, body)
          entries.push({ key: publication.stream, fields, maxLen: PANE_STREAM_ENTRIES, ttlMillis: Retention.paneMillis })
          ended ||= closed
        }
        // Tried until Redis is back (the schedule never ends); what piles up meanwhile is bounded above.
          yield* status.report("write", redis.xaddBatch(entries)).pipe(
          Effect.retry(reconnectSchedule),
          Effect.catchAll((error) => Effect.logWarning(`terminal ${publication.sessionId}: entries lost: ${error.message}`))
        )
        if (ended) return
      }
    })

  const run = (publication: Publication) =>
    Effect.scoped(Effect.gen(function*() {
      const attached = yield* Effect.either(terminals.attach(publication.sessionId, undefined, undefined, sinkOf(publication)))
      if (Either.isLeft(attached)) {
        enqueue(publication, { _tag: "closed", reason: attached.left.reason, message: attached.left.message })
      } else {
        publication.attachment = attached.right
        if (publication.size !== undefined) yield* attached.right.resize(publication.size)
      }
      yield* write(publication)
    })).pipe(
      Effect.ensuring(Effect.sync(() => {
        publication.ended = true
        publication.attachment = undefined
      }))
    )

  const start = (sessionId: string, askedAt: number) =>
    Effect.gen(function*() {
      const publication: Publication = {
        sessionId,
        stream: keys.pane(self, sessionId),
        queued: [],
        pending: 0,
        wake: yield* Queue.sliding<void>(1),
        skipping: false,
        attachment: undefined,
        size: undefined,
        askedAt,
        ended: false,
        fiber: undefined
      }
      publications.set(sessionId, publication)
      publication.fiber = yield* Effect.forkIn(surviving(`streaming terminal ${sessionId}`, run(publication)), layerScope)
    })

  const stop = (publication: Publication) =>
    Effect.suspend(() => {
      publications.delete(publication.sessionId)
      return publication.fiber === undefined ? Effect.void : Fiber.interrupt(publication.fiber)
    })

  /** Streams what live peers list or asked for within the lease, and nothing else. */
  const reconcile = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const wanted = new Set<string>()
    for (const computer of yield* cache.computers) {
      if (computer.name === self) continue
      for (const ref of computer.terminals ?? []) if (ref.computer === self) wanted.add(ref.sessionId)
    }
    for (const publication of [...publications.values()]) {
      if (!wanted.has(publication.sessionId) && now - publication.askedAt > LEASE_MILLIS) yield* stop(publication)
    }
    // An ended one stays until unlisted: it is not started again for each heartbeat.
    for (const sessionId of wanted) if (!publications.has(sessionId)) yield* start(sessionId, 0)
  })

  /** A peer's viewer wants a snapshot: the stream gets one (a new one, or the ended session's end again). */
  const ask = (sessionId: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const publication = publications.get(sessionId)
      if (publication === undefined || publication.ended) {
        if (publication !== undefined) yield* stop(publication)
        return yield* start(sessionId, now)
      }
      publication.askedAt = now
      if (publication.attachment !== undefined) yield* publication.attachment.resnapshot
    })

  /** A size for the pane: the attachment's now, or once it is there. */
  const sizeTo = (publication: Publication | undefined, size: Size | undefined) =>
    Effect.suspend(() => {
      if (publication === undefined || size === undefined) return Effect.void
      if (publication.attachment === undefined) return Effect.sync(() => void (publication.size = size))
      return publication.attachment.resize(size)
    })

  const apply = ({ input }: TerminalInput) => {
    const publication = publications.get(input.sessionId)
    switch (input._tag) {
      case "keys": {
        const bytes = Buffer.from(input.data, "base64")
        const attachment = publication?.attachment
        if (attachment === undefined) return Effect.zipRight(sizeTo(publication, input.size), Effect.ignore(terminals.type(input.sessionId, bytes)))
        return Effect.zipRight(sizeTo(publication, input.size), attachment.keys(bytes))
      }
      case "resize":
        return sizeTo(publication, { cols: input.cols, rows: input.rows })
      case "snapshot":
        return ask(input.sessionId)
    }
  }

  const inputStream = keys.terminalInput(self)
  yield* consumeStream({
    stream: inputStream,
    resume: { key: keys.terminalInputCursor(self), ttlMillis: Retention.requestsMillis },
    count: 64,
    // One at a time, in the order written: keys are typed as they were sent.
    handle: (entries) =>
      Effect.forEach(entries, (entry) =>
        Effect.gen(function*() {
          const opened = Either.flatMap(seal.unsafeOpen(inputStream, entry.fields), ({ body }) => decodeTerminalInput(body))
          if (Either.isLeft(opened)) {
            yield* stats.add("decodeFailures")
            return yield* Effect.logDebug(`skipped terminal input ${entry.id}: ${opened.left}`)
          }
          const now = yield* Clock.currentTimeMillis
          if (now > opened.right.deadline + STALE_AFTER_MILLIS) return yield* Effect.logDebug(`dropped stale terminal input ${entry.id}`)
          yield* apply(opened.right)
        }), { discard: true })
  })

  // Heartbeats (and peers leaving) change what is wanted; leases run out with time.
  // The session changes around them (nearly all of the traffic) do not even wake it.
  const changes = yield* cache.subscribeTo((change) => change._tag === "ComputerUpdated" || change._tag === "ComputerRemoved")
  const computerChanged = Effect.asVoid(Queue.takeBetween(changes, 1, config.limits.readBatch))
  yield* Stream.repeatEffect(computerChanged).pipe(
    Stream.merge(Stream.tick("5 seconds")),
    Stream.runForEach(() => surviving("streaming terminals to peers", reconcile)),
    Effect.forkScoped
  )
}))
