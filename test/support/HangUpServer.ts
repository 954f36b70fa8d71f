/**
 * Stands in for a Redis that is down, on a given port: it takes every
 * connection and hangs up at once, so each attempt a daemon makes to reach
 * Redis is seen and counted (a closed port would refuse them unseen).
 */
import { Effect, type Scope } from "effect"
import { createServer } from "node:net"

export interface HangUpServer {
  /** Connections taken so far. */
  readonly attempts: () => number
  /** Stops listening, so the port is free for a real Redis. */
  readonly close: Effect.Effect<void>
}

export const hangUpServer = (port: number): Effect.Effect<HangUpServer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    let attempts = 0
    let listening = false
    const server = createServer((socket) => {
      attempts++
      socket.destroy()
    })
    const close = Effect.async<void>((resume) => {
      if (!listening) return resume(Effect.void)
      listening = false
      server.close(() => resume(Effect.void))
    })
    yield* Effect.acquireRelease(
      Effect.async<void, Error>((resume) => {
        server.once("error", (e) => resume(Effect.fail(e)))
        server.listen(port, "127.0.0.1", () => {
          listening = true
          resume(Effect.void)
        })
      }),
      () => close
    )
    return { attempts: () => attempts, close }
  })
