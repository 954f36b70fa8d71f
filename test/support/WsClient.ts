/**
 * The WebSocket test client, on `ws`. Every frame the daemon sends is decoded
 * with the protocol's Schema (`ServerEvent`): one that does not decode fails
 * whatever the test awaits next. It records the frames,
 * so a test can read them in order (`next`, `nextEvent`), await one within a
 * bound (`waitFor`), or check the whole history afterwards (order, `seq`,
 * duplicates). It can stop reading its socket (`pause`) as a client that never
 * reads would, and start again.
 */
import { Effect, type Scope } from "effect"
import WebSocket from "ws"
import { Either } from "effect"
import { decodeServerEvent, type ServerEvent } from "../../src/domain/Protocol.js"

export type Frame = ServerEvent
export type EventName = ServerEvent["event"]
/** The frame of one event, its `data` typed. */
export type EventOf<E extends EventName> = Extract<ServerEvent, { readonly event: E }>

export interface WsClient {
  /** Every frame received so far, in order (empty when connected with `store: false`). */
  readonly frames: ReadonlyArray<Frame>
  /** How many frames were received, stored or not. */
  readonly count: () => number
  /** The last frame received. */
  readonly last: () => Frame | undefined
  readonly closeCode: () => number | undefined
  /** The next frame not yet read with `next`/`nextEvent`, in the order the daemon sent them. */
  readonly next: Effect.Effect<Frame>
  /** Reads frames until one with this event (and matching `where`) arrives. */
  readonly nextEvent: <E extends EventName>(event: E, where?: (data: EventOf<E>["data"]) => boolean) => Effect.Effect<EventOf<E>>
  /** The first frame at index `from` or later matching `match`, waiting at most `withinMillis`. */
  readonly waitFor: (
    what: string,
    match: (frame: Frame) => boolean,
    withinMillis: number,
    from?: number
  ) => Effect.Effect<Frame, Error>
  /** Waits until `until()` holds, re-checked on every frame received, at most `withinMillis`. */
  readonly waitUntil: (what: string, until: () => boolean, withinMillis: number) => Effect.Effect<void, Error>
  /** The close code the daemon closed with, waiting at most `withinMillis`. */
  readonly closed: (withinMillis: number) => Effect.Effect<number, Error>
  readonly send: (message: unknown) => Effect.Effect<void>
  readonly sendRaw: (data: string | Buffer) => Effect.Effect<void>
  /** Stops reading the socket: the daemon's frames pile up in TCP buffers, then in the daemon. */
  readonly pause: Effect.Effect<void>
  readonly resume: Effect.Effect<void>
  /** Drops the TCP connection with no close frame, as a crashed client would. */
  readonly terminate: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

export interface WsOptions {
  readonly headers?: Record<string, string>
  /** Keep every frame (default), or only count them (a client receiving tens of MB; `next` then dies). */
  readonly store?: boolean
}

export const connectWs = (url: string, options: WsOptions = {}): Effect.Effect<WsClient, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const store = options.store ?? true
    const frames: Array<Frame> = []
    let received = 0
    let read = 0
    let lastFrame: Frame | undefined
    let closeCode: number | undefined
    /** The first frame that was not a `ServerEvent`, and why. */
    let undecodable: string | undefined
    const listeners = new Set<() => void>()
    const notify = () => {
      for (const listener of [...listeners]) listener()
    }

    const ws = yield* Effect.acquireRelease(
      Effect.async<WebSocket, Error>((resume) => {
        const ws = new WebSocket(url, { headers: options.headers ?? {} })
        ws.on("message", (data) => {
          const decoded = decodeServerEvent(data.toString())
          if (Either.isLeft(decoded)) {
            undecodable ??= `${data.toString().slice(0, 300)}\n${decoded.left.message}`
            return notify()
          }
          const frame = decoded.right
          received++
          lastFrame = frame
          if (store) frames.push(frame)
          notify()
        })
        ws.on("close", (code) => {
          closeCode = code
          notify()
        })
        ws.on("error", () => notify())
        ws.once("open", () => resume(Effect.succeed(ws)))
        ws.once("unexpected-response", (_req, res) => resume(Effect.fail(new Error(`HTTP ${res.statusCode} on ${url}`))))
        ws.once("error", (error) => resume(Effect.fail(error)))
      }),
      (ws) => Effect.sync(() => ws.terminate())
    )

    /** Resolves once `check` answers something, re-checked on every frame and on close. */
    const awaitCheck = <A>(check: () => A | undefined) =>
      Effect.async<A>((resume) => {
        const listener = () => {
          if (undecodable !== undefined) {
            listeners.delete(listener)
            return resume(Effect.dieMessage(`the daemon sent a frame that is not a ServerEvent: ${undecodable}`))
          }
          const found = check()
          if (found !== undefined) {
            listeners.delete(listener)
            resume(Effect.succeed(found))
          }
        }
        listeners.add(listener)
        listener()
        return Effect.sync(() => listeners.delete(listener))
      })

    const within = <A>(what: string, check: () => A | undefined, withinMillis: number) =>
      awaitCheck(check).pipe(
        Effect.timeoutFail({
          duration: withinMillis,
          onTimeout: () =>
            new Error(
              `no ${what} within ${withinMillis} ms (received ${received} frames, last: ${
                JSON.stringify(lastFrame)?.slice(0, 300)
              }, close code: ${closeCode})`
            )
        })
      )

    const next: Effect.Effect<Frame> = store
      ? awaitCheck(() => (read < frames.length ? frames[read++] : undefined))
      : Effect.dieMessage("next needs a client that stores its frames")
    const nextEvent = <E extends EventName>(
      event: E,
      where: (data: EventOf<E>["data"]) => boolean = () => true
    ): Effect.Effect<EventOf<E>> =>
      Effect.flatMap(next, (frame) => {
        if (!isEvent(frame, event)) return nextEvent(event, where)
        const found: EventOf<E> = frame
        return where(found.data as EventOf<E>["data"]) ? Effect.succeed(found) : nextEvent(event, where)
      })

    return {
      frames,
      count: () => received,
      last: () => lastFrame,
      closeCode: () => closeCode,
      next,
      nextEvent,
      waitFor: (what, match, withinMillis, from = 0) =>
        within(what, () => {
          for (let i = from; i < frames.length; i++) if (match(frames[i]!)) return frames[i]!
          return undefined
        }, withinMillis),
      waitUntil: (what, until, withinMillis) => within(what, () => (until() ? true : undefined), withinMillis).pipe(Effect.asVoid),
      closed: (withinMillis) => within("close", () => closeCode, withinMillis),
      send: (message) => Effect.sync(() => ws.send(JSON.stringify(message))),
      sendRaw: (data) => Effect.sync(() => ws.send(data)),
      pause: Effect.sync(() => ws.pause()),
      resume: Effect.sync(() => ws.resume()),
      terminate: Effect.sync(() => ws.terminate()),
      close: Effect.sync(() => ws.close())
    }
  })

export const isEvent = <E extends EventName>(frame: Frame, event: E): frame is EventOf<E> => frame.event === event

/** A frame's `seq`, for the events that carry one. */
export const seqOf = (frame: Frame): number | undefined => ("seq" in frame ? frame.seq : undefined)

/** A client subscribed to `topic`, with the `<topic>_initial` frame it got. */
export const subscribedClient = <T extends "sessions" | "preparation">(url: string, topic: T) =>
  Effect.gen(function*() {
    const client = yield* connectWs(url)
    yield* client.send({ type: "subscribe", topic })
    const initial = yield* client.nextEvent(`${topic}_initial` as `${T}_initial`)
    return { client, initial }
  })
