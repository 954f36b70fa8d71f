/**
 * tmux in tests: a private server per test (a socket name no other test
 * uses, its server killed when the test's scope closes; LocalSessions never
 * kills it, so sessions outlive daemons), and tmux run as a user would.
 */
import { Effect, Layer, Queue, type Scope } from "effect"
import { execFile } from "node:child_process"
import { rm } from "node:fs/promises"
import { join } from "node:path"
import { DaemonConfig, defaultSettings } from "../../src/config/DaemonConfig.js"
import { AgentState } from "../../src/agent/AgentState.js"
import { LocalSessions } from "../../src/local/LocalSessions.js"
import { type CacheChange, SessionCache } from "../../src/cache/SessionCache.js"
import { tempDir } from "./TempDir.js"

let sockets = 0

/** Runs tmux on `socket` directly, as a user at a terminal would. */
export const tmuxCli = (socket: string, ...args: ReadonlyArray<string>): Effect.Effect<string, Error> =>
  Effect.async((resume) => {
    execFile("tmux", ["-u", "-L", socket, ...args], { encoding: "utf8" }, (error, stdout, stderr) =>
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(`tmux ${args[0]}: ${stderr.trim()}`))))
  })

/** Where `tmux -L` puts a socket; tmux leaves the file behind when its server exits. */
const socketPath = (socket: string) => join(process.env["TMUX_TMPDIR"] || "/tmp", `tmux-${process.getuid?.()}`, socket)

/** Kills the server on `socket` (if any) and removes its socket file. */
export const killTmux = (socket: string): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.ignore(tmuxCli(socket, "kill-server")),
    Effect.promise(() => rm(socketPath(socket), { force: true }))
  )

/** A fresh socket name; its server is killed and its socket file removed when the scope closes. */
export const privateTmux: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => `tf-test-${process.pid}-${++sockets}`),
  killTmux
)

/** Its state folder (where sessions' hook credentials go) is removed with the scope. */
export const localSessionsLayer = (tmuxSocket: string) =>
  Layer.unwrapScoped(Effect.map(tempDir("tf-state"), (stateDir) =>
    LocalSessions.layer.pipe(
      // No daemon serves here: hooks run in these sessions reach nothing.
      Layer.provideMerge(AgentState.layerAt("http://127.0.0.1:9")),
      Layer.provideMerge(SessionCache.layer),
      Layer.provideMerge(DaemonConfig.layer(defaultSettings({ computer: "test", tmuxSocket, stateDir })))
    )))

/** Takes changes until `pick` answers one; the queue must be subscribed before the change can happen. */
export const awaitChange = <A>(
  changes: Queue.Dequeue<CacheChange>,
  what: string,
  pick: (change: CacheChange) => A | undefined
): Effect.Effect<A, Error> =>
  Effect.gen(function*() {
    while (true) {
      const found = pick(yield* Queue.take(changes))
      if (found !== undefined) return found
    }
  }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no ${what} within 10 s`) }))
