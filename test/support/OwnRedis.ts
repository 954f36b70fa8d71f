/**
 * A redis-server a test owns outright (never `TERMFLEET_TEST_REDIS_URL`,
 * which others share): it can kill it (SIGKILL) and start it again, empty,
 * on the same port. Stopped when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { startRedisServer } from "./RedisProcess.js"

export interface OwnRedis {
  readonly url: string
  readonly port: number
  /** SIGKILL: no save, no goodbye to clients. */
  readonly kill: Effect.Effect<void>
  /** Starts a fresh, empty redis-server on the same port. */
  readonly start: Effect.Effect<void>
  /** Sends a signal to the running server: SIGSTOP stalls it (connections stay open, nothing is answered), SIGCONT resumes it. */
  readonly signal: (signal: "SIGSTOP" | "SIGCONT") => Effect.Effect<void>
}

export const ownRedis = (port?: number): Effect.Effect<OwnRedis, never, Scope.Scope> =>
  Effect.gen(function*() {
    let server = yield* Effect.promise(() => startRedisServer(port))
    // RedisServer's stop() never resolves for a server already killed (exitCode stays null after a signal).
    let running = true
    const kill = Effect.promise(async () => {
      if (!running) return
      running = false
      await server.stop()
    })
    yield* Effect.addFinalizer(() => kill)
    return {
      url: server.url,
      port: server.port,
      kill,
      signal: (signal) => Effect.sync(() => void server.child.kill(signal)),
      start: Effect.promise(async () => {
        server = await startRedisServer(server.port)
        running = true
      })
    }
  })
