/**
 * The built binary (`node dist/main.js ...`) as a child process, with an
 * environment free of the caller's `TERMFLEET_*` settings: a command run to
 * its end, or a daemon started and awaited until it prints its dashboard URL.
 * A started daemon is stopped (SIGTERM, then SIGKILL after 5 s) and its tmux
 * server killed when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { tempDir } from "./TempDir.js"
import { TEST_FLEET_SECRET, TEST_TOKEN } from "./TestDaemon.js"
import { killTmux, privateTmux } from "./TmuxServer.js"

export const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url))

export const requireBuild = () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' first ('make test' does)`)
}

/** The environment of the test process without termfleet's settings (nor extra CAs), plus `extra`. */
export const cleanEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("TERMFLEET_") && name !== "NODE_EXTRA_CA_CERTS") env[name] = value
  }
  return { ...env, ...extra }
}

export interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node dist/main.js <args>` to its end (bounded: 15 s unless told), without blocking this process. */
export const runBinary = (
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = cleanEnv(),
  timeoutMillis = 15_000
): Effect.Effect<Finished> =>
  Effect.async((resume) => {
    requireBuild()
    execFile(process.execPath, [MAIN, ...args], { env, timeout: timeoutMillis }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resume(Effect.succeed({ code, signal: error?.signal ?? null, stdout, stderr }))
    })
  })

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

export interface DaemonProcess {
  readonly pid: number
  /** The dashboard URL the daemon printed, with its token. */
  readonly dashboardUrl: string
  readonly token: string
  readonly tmuxSocket: string
  /** `http://127.0.0.1:<port>` */
  readonly base: string
  readonly port: number
  readonly url: (path: string) => string
  /** Carries the token, as a client must. */
  readonly wsUrl: string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Everything it wrote to stdout and stderr so far, interleaved. */
  readonly log: () => string
  readonly signal: (signal: NodeJS.Signals) => void
  /** Resolves when the process has exited. */
  readonly exited: Effect.Effect<Exited>
  /** Stops the daemon now (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  readonly stop: Effect.Effect<void>
  /** A request with the daemon's token; a JSON body is parsed, any other kept as text. */
  readonly request: (method: string, path: string, body?: unknown) => Effect.Effect<Answer, Error>
}

/**
 * Starts `node dist/main.js daemon <args>` and waits until it prints its
 * dashboard URL (or exits, which fails with its output). `tmuxSocket` is the
 * one the daemon uses: its server is killed with the scope.
 */
export const startDaemonProcess = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly tmuxSocket: string }
): Effect.Effect<DaemonProcess, Error, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.try({ try: requireBuild, catch: (e) => e as Error })
    yield* Effect.addFinalizer(() => killTmux(options.tmuxSocket))
    let stdout = ""
    let stderr = ""
    let output = ""
    let exit: Exited | undefined
    const exitWaiters: Array<(exited: Exited) => void> = []
    const exited = Effect.async<Exited>((resume) => {
      if (exit !== undefined) resume(Effect.succeed(exit))
      else exitWaiters.push((e) => resume(Effect.succeed(e)))
    })
    const child: ChildProcess = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [MAIN, "daemon", ...args], {
          env: options.env ?? cleanEnv(),
          stdio: ["ignore", "pipe", "pipe"]
        })
        child.stdout!.on("data", (chunk: Buffer) => {
          stdout += chunk.toString()
          output += chunk.toString()
        })
        child.stderr!.on("data", (chunk: Buffer) => {
          stderr += chunk.toString()
          output += chunk.toString()
        })
        child.on("exit", (code, signal) => {
          exit = { code, signal, at: Date.now() }
          for (const waiter of exitWaiters.splice(0)) waiter(exit)
        })
        return child
      }),
      (child) => stopChild(child, exited)
    )

    // `termfleet daemon` prints the dashboard URL once its Layers are up and it listens.
    const dashboardUrl = yield* Effect.async<string, Error>((resume) => {
      const check = () => {
        const match = /dashboard: (https?:\/\/\S+)/.exec(stdout)
        if (match !== null) resume(Effect.succeed(match[1]!))
        else if (exit !== undefined) {
          resume(Effect.fail(new Error(`the daemon exited (${exit.code ?? exit.signal}) before printing its URL:\n${output}`)))
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
        onTimeout: () => new Error(`the daemon printed no URL within 15 s:\n${output}`)
      })
    )

    const parsed = new URL(dashboardUrl)
    const token = parsed.searchParams.get("token") ?? ""
    const base = `${parsed.protocol}//${parsed.host}`
    const url = (path: string) => `${base}${path}`
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
          let answer: unknown = text
          try {
            answer = text.length > 0 ? JSON.parse(text) : null
          } catch {
            // not JSON: kept as text
          }
          return { status: response.status, body: answer }
        },
        catch: (e) => new Error(`${method} ${path} on ${base}: ${e instanceof Error ? e.message : String(e)}`)
      })

    return {
      pid: child.pid!,
      dashboardUrl,
      token,
      tmuxSocket: options.tmuxSocket,
      base,
      port: Number(parsed.port),
      url,
      wsUrl: `ws://${parsed.host}/ws?token=${encodeURIComponent(token)}`,
      stdout: () => stdout,
      stderr: () => stderr,
      log: () => output,
      signal: (signal) => void child.kill(signal),
      exited,
      stop: stopChild(child, exited),
      request
    }
  })

const stopChild = (child: ChildProcess, exited: Effect.Effect<Exited>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (child.exitCode !== null || child.signalCode !== null) return Effect.void
    child.kill("SIGTERM")
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000)
    return Effect.ensuring(exited, Effect.sync(() => clearTimeout(kill)))
  })

export interface FleetDaemonOptions {
  readonly computer: string
  readonly redisUrl: string
  readonly prefix: string
  readonly fleetSecret?: string
  readonly token?: string
  /** More flags, after the usual ones. */
  readonly extraArgs?: ReadonlyArray<string>
}

/** The flags of a fleet daemon on `redisUrl` with its own tmux server and state folder. */
export const fleetDaemonArgs = (options: FleetDaemonOptions, own: { readonly tmuxSocket: string; readonly stateDir: string }) => [
  "--computer", options.computer,
  "--redis", options.redisUrl,
  "--prefix", options.prefix,
  "--port", "0",
  "--token", options.token ?? TEST_TOKEN,
  "--fleet-secret", options.fleetSecret ?? TEST_FLEET_SECRET,
  "--tmux-socket", own.tmuxSocket,
  "--state-dir", own.stateDir,
  ...(options.extraArgs ?? [])
]

export interface FleetDaemon extends DaemonProcess {
  readonly computer: string
}

/** A daemon of a fleet on `redisUrl`, with a private tmux server and state folder (removed with the scope). */
export const spawnFleetDaemon = (options: FleetDaemonOptions): Effect.Effect<FleetDaemon, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const tmuxSocket = yield* privateTmux
    const stateDir = yield* tempDir(`tf-${options.computer}`)
    const daemon = yield* startDaemonProcess(fleetDaemonArgs(options, { tmuxSocket, stateDir }), { tmuxSocket })
    return { ...daemon, computer: options.computer }
  })

/** `n` occurrences of `text` in `log`. */
export const occurrences = (log: string, text: string) => log.split(text).length - 1
