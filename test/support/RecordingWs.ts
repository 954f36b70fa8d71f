/**
 * A `ws` client that records every frame the daemon sends, so a fault test
 * can check the whole history (order, `seq`, duplicates) afterwards, and can
 * await a frame or the close code within a bound. It can stop reading its
 * socket (`pause`) as a client that never reads would, and start again.
 */
import { Effect, type Scope } from "effect"
import WebSocket from "ws"

export interface RecordedFrame {
  readonly event: string
  readonly data: any
  readonly seq?: number
}

export interface RecordingWs {
  /** Every frame received so far, in order (empty when connected with `store: false`). */
  readonly frames: ReadonlyArray<RecordedFrame>
  /** How many frames were received, stored or not. */
  readonly count: () => number
  /** The last frame received. */
  readonly last: () => RecordedFrame | undefined
  readonly closeCode: () => number | undefined
  /** The first frame at index `from` or later matching `match`, waiting at most `withinMillis`. */
  readonly waitFor: (
    what: string,
    match: (frame: RecordedFrame) => boolean,
    withinMillis: number,
    from?: number
  ) => Effect.Effect<RecordedFrame, Error>
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
}

export interface RecordingOptions {
  readonly headers?: Record<string, string>
  /** Keep every frame (default), or only count them (a client receiving tens of MB). */
  readonly store?: boolean
}

export const connectRecording = (url: string, options: RecordingOptions = {}): Effect.Effect<RecordingWs, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const store = options.store ?? true
    const frames: Array<RecordedFrame> = []
    let received = 0
    let lastFrame: RecordedFrame | undefined
    let closeCode: number | undefined
    const listeners = new Set<() => void>()
    const notify = () => {
      for (const listener of [...listeners]) listener()
    }

    const ws = yield* Effect.acquireRelease(
      Effect.async<WebSocket, Error>((resume) => {
        const ws = new WebSocket(url, { headers: options.headers ?? {} })
        ws.on("message", (data) => {
          let frame: RecordedFrame
          try {
            frame = JSON.parse(data.toString()) as RecordedFrame
          } catch {
            frame = { event: "<not json>", data: data.toString().slice(0, 200) }
          }
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
    const awaitCheck = <A>(what: string, check: () => A | undefined, withinMillis: number) =>
      Effect.async<A, Error>((resume) => {
        const listener = () => {
          const found = check()
          if (found !== undefined) {
            listeners.delete(listener)
            resume(Effect.succeed(found))
          }
        }
        listeners.add(listener)
        listener()
        return Effect.sync(() => listeners.delete(listener))
      }).pipe(
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

    return {
      frames,
      count: () => received,
      last: () => lastFrame,
      closeCode: () => closeCode,
      waitFor: (what, match, withinMillis, from = 0) =>
        awaitCheck(what, () => {
          for (let i = from; i < frames.length; i++) if (match(frames[i]!)) return frames[i]!
          return undefined
        }, withinMillis),
      waitUntil: (what, until, withinMillis) => awaitCheck(what, () => (until() ? true : undefined), withinMillis).pipe(Effect.asVoid),
      closed: (withinMillis) => awaitCheck("close", () => closeCode, withinMillis),
      send: (message) => Effect.sync(() => ws.send(JSON.stringify(message))),
      sendRaw: (data) => Effect.sync(() => ws.send(data)),
      pause: Effect.sync(() => ws.pause()),
      resume: Effect.sync(() => ws.resume()),
      terminate: Effect.sync(() => ws.terminate())
    }
  })

/** A recording client subscribed to `sessions`, once its `sessions_initial` has arrived. */
export const watchSessions = (url: string): Effect.Effect<RecordingWs, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* connectRecording(url)
    yield* client.send({ type: "subscribe", topic: "sessions" })
    yield* client.waitFor("sessions_initial", (f) => f.event === "sessions_initial", 5_000)
    return client
  })
