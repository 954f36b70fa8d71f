/**
 * A daemon as a real process, `node dist/main.js daemon`, as a user runs it:
 * a free port, a private tmux server and a temporary state folder of its own,
 * its output kept for the test to read. Killed (if still running), its tmux
 * server killed and its state folder removed when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { MAIN, requireBuild } from "./Cli.js"
import { freePort } from "./RedisServer.js"
import { tempDir } from "./TempDir.js"
import { TEST_FLEET_SECRET, TEST_TOKEN } from "./TestDaemon.js"
import { privateTmux } from "./TmuxServer.js"

export interface FleetDaemonOptions {
  readonly computer: string
  readonly redisUrl: string
  readonly prefix: string
  readonly fleetSecret?: string
  readonly token?: string
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** `Date.now()` when the process was seen to exit. */
  readonly at: number
}

export interface Answer {
  readonly status: number
  readonly body: any
}

export interface FleetDaemon {
  readonly computer: string
  readonly port: number
  readonly token: string
  readonly tmuxSocket: string
  readonly pid: number
  readonly url: (path: string) => string
  /** Carries the token, as a client must. */
  readonly wsUrl: string
  /** Everything it wrote to stdout and stderr so far. */
  readonly log: () => string
  readonly signal: (signal: NodeJS.Signals) => void
  /** Resolves when the process has exited. */
  readonly exited: Effect.Effect<Exited>
  readonly request: (method: string, path: string, body?: unknown) => Effect.Effect<Answer, Error>
}

/** The test's environment without any TERMFLEET_* setting, so only the flags given count. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("TERMFLEET_")))

export const spawnFleetDaemon = (options: FleetDaemonOptions): Effect.Effect<FleetDaemon, Error, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.try({ try: requireBuild, catch: (e) => e as Error })
    const tmuxSocket = yield* privateTmux
    const stateDir = yield* tempDir(`tf-${options.computer}`)
    const port = yield* Effect.promise(freePort)
    const token = options.token ?? TEST_TOKEN
    const args = [
      MAIN, "daemon",
      "--computer", options.computer,
      "--redis", options.redisUrl,
      "--prefix", options.prefix,
      "--port", String(port),
      "--token", token,
      "--fleet-secret", options.fleetSecret ?? TEST_FLEET_SECRET,
      "--tmux-socket", tmuxSocket,
      "--state-dir", stateDir
    ]
    let output = ""
    let exit: Exited | undefined
    const exitWaiters: Array<(exited: Exited) => void> = []
    const child: ChildProcess = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, args, { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })
        child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.on("exit", (code, signal) => {
          exit = { code, signal, at: Date.now() }
          for (const waiter of exitWaiters.splice(0)) waiter(exit)
        })
        return child
      }),
      (child) =>
        Effect.async<void>((resume) => {
          if (exit !== undefined) return resume(Effect.void)
          exitWaiters.push(() => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )
    const exited = Effect.async<Exited>((resume) => {
      if (exit !== undefined) resume(Effect.succeed(exit))
      else exitWaiters.push((e) => resume(Effect.succeed(e)))
    })

    // `termfleet daemon` prints the dashboard URL once its Layers are up and it listens.
    yield* Effect.async<void, Error>((resume) => {
      const check = () => {
        if (output.includes("dashboard: http")) resume(Effect.void)
        else if (exit !== undefined) {
          resume(Effect.fail(new Error(`daemon ${options.computer} exited (${exit.code ?? exit.signal}) at start:\n${output}`)))
        }
      }
      child.stdout!.on("data", check)
      child.on("exit", check)
      check()
      return Effect.sync(() => {
        child.stdout!.off("data", check)
        child.off("exit", check)
      })
    }).pipe(
      Effect.timeoutFail({
        duration: "15 seconds",
        onTimeout: () => new Error(`daemon ${options.computer} did not print its dashboard URL within 15 s:\n${output}`)
      })
    )

    const url = (path: string) => `http://127.0.0.1:${port}${path}`
    const request = (method: string, path: string, body?: unknown) =>
      Effect.tryPromise({
        try: async (): Promise<Answer> => {
          const response = await fetch(url(path), {
            method,
            headers: {
              authorization: `Bearer ${token}`,
              ...(body === undefined ? {} : { "content-type": "application/json" })
            },
            ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
          })
          const text = await response.text()
          let parsed: unknown = text
          try {
            parsed = text.length > 0 ? JSON.parse(text) : null
          } catch {
            // not JSON: kept as text
          }
          return { status: response.status, body: parsed }
        },
        catch: (e) => new Error(`${method} ${path} on ${options.computer}: ${e instanceof Error ? e.message : String(e)}`)
      })

    return {
      computer: options.computer,
      port,
      token,
      tmuxSocket,
      pid: child.pid!,
      url,
      wsUrl: `ws://127.0.0.1:${port}/ws?token=${encodeURIComponent(token)}`,
      log: () => output,
      signal: (signal) => void child.kill(signal),
      exited,
      request
    }
  })

/** `n` occurrences of `text` in `log`. */
export const occurrences = (log: string, text: string) => log.split(text).length - 1
