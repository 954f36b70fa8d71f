/** A WebSocket test client on `ws`: frames are queued so a test awaits them in order, without sleeping. */
import { Effect, Queue, type Scope } from "effect"
import WebSocket from "ws"

export interface Frame {
  readonly event: string
  readonly data: any
  readonly seq?: number
}

export interface WsClient {
  readonly send: (message: unknown) => Effect.Effect<void>
  readonly sendRaw: (data: string | Buffer) => Effect.Effect<void>
  /** The next frame, in the order the daemon sent them. */
  readonly next: Effect.Effect<Frame>
  /** Skips frames until one with this event (and matching `where`) arrives. */
  readonly nextEvent: (event: string, where?: (data: any) => boolean) => Effect.Effect<Frame>
  /** Resolves with the close code once the daemon closes the connection. */
  readonly closed: Effect.Effect<number>
  /** Drops the TCP connection with no close frame, as a crashed client would. */
  readonly terminate: Effect.Effect<void>
  readonly close: Effect.Effect<void>
  /** Stops reading from the socket, as a client that never reads would. */
  readonly pause: Effect.Effect<void>
}

export const connectWs = (
  url: string,
  headers: Record<string, string> = {}
): Effect.Effect<WsClient, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const frames = yield* Queue.unbounded<Frame>()
    let closeCode: number | undefined
    const closeWaiters: Array<(code: number) => void> = []
    const ws = yield* Effect.acquireRelease(
      Effect.async<WebSocket, Error>((resume) => {
        const ws = new WebSocket(url, { headers })
        ws.on("message", (data) => Queue.unsafeOffer(frames, JSON.parse(data.toString()) as Frame))
        ws.on("close", (code) => {
          closeCode = code
          for (const waiter of closeWaiters.splice(0)) waiter(code)
        })
        ws.once("open", () => resume(Effect.succeed(ws)))
        ws.once("unexpected-response", (_req, res) => resume(Effect.fail(new Error(`HTTP ${res.statusCode}`))))
        ws.once("error", (error) => resume(Effect.fail(error)))
      }),
      (ws) => Effect.sync(() => ws.terminate())
    )
    const nextEvent = (event: string, where: (data: any) => boolean = () => true): Effect.Effect<Frame> =>
      Effect.flatMap(Queue.take(frames), (frame) =>
        frame.event === event && where(frame.data) ? Effect.succeed(frame) : nextEvent(event, where))
    return {
      send: (message) => Effect.sync(() => ws.send(JSON.stringify(message))),
      sendRaw: (data) => Effect.sync(() => ws.send(data)),
      next: Queue.take(frames),
      nextEvent,
      closed: Effect.async<number>((resume) => {
        if (closeCode !== undefined) resume(Effect.succeed(closeCode))
        else closeWaiters.push((code) => resume(Effect.succeed(code)))
      }),
      terminate: Effect.sync(() => ws.terminate()),
      close: Effect.sync(() => ws.close()),
      pause: Effect.sync(() => ws.pause())
    }
  })

/** A client subscribed to `topic`, with the `<topic>_initial` frame it got. */
export const subscribedClient = (url: string, topic: "sessions" | "preparation") =>
  Effect.gen(function*() {
    const client = yield* connectWs(url)
    yield* client.send({ type: "subscribe", topic })
    const initial = yield* client.nextEvent(`${topic}_initial`)
    return { client, initial }
  })
