/**
 * The built daemon (`node dist/main.js daemon ...`) as a child process, with
 * an environment free of the caller's `TERMFLEET_*` settings. A started
 * daemon is stopped (SIGTERM, then SIGKILL) and its tmux server killed when
 * the scope closes. Used by test/security.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { rm } from "node:fs/promises"
import { join } from "node:path"
import { MAIN, requireBuild } from "./Cli.js"

/** The environment of the test process without termfleet's settings (nor extra CAs), plus `extra`. */
export const cleanEnv = (extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("TERMFLEET_") && name !== "NODE_EXTRA_CA_CERTS") env[name] = value
  }
  return { ...env, ...extra }
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node dist/main.js <args>` to its end (bounded: 15 s). */
export const runBinary = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = cleanEnv()): Effect.Effect<Exited> =>
  Effect.async((resume) => {
    requireBuild()
    execFile(process.execPath, [MAIN, ...args], { env, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resume(Effect.succeed({ code, signal: error?.signal ?? null, stdout, stderr }))
    })
  })

export interface DaemonProcess {
  readonly child: ChildProcess
  /** The dashboard URL the daemon printed, with its token. */
  readonly dashboardUrl: string
  readonly token: string
  /** `http://127.0.0.1:<port>` */
  readonly base: string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Stops the daemon now and waits for it to exit. */
  readonly stop: Effect.Effect<void>
}

const waitExit = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const kill = setTimeout(() => child.kill("SIGKILL"), 5_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Where `tmux -L` puts a socket; tmux leaves the file behind when its server exits. */
const socketPath = (socket: string) => join(process.env["TMUX_TMPDIR"] || "/tmp", `tmux-${process.getuid?.()}`, socket)

export const killTmux = (socket: string): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.async<void>((resume) => void execFile("tmux", ["-L", socket, "kill-server"], () => resume(Effect.void))),
    Effect.promise(() => rm(socketPath(socket), { force: true }))
  )

/**
 * Starts the daemon and waits until it prints its dashboard URL (or exits,
 * which fails with its output). `tmuxSocket` is killed with the scope.
 */
export const startDaemonProcess = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly tmuxSocket: string }
): Effect.Effect<DaemonProcess, Error, Scope.Scope> =>
  Effect.gen(function*() {
    requireBuild()
    yield* Effect.addFinalizer(() => killTmux(options.tmuxSocket))
    let stdout = ""
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [MAIN, "daemon", ...args], {
          env: options.env ?? cleanEnv(),
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.promise(() => waitExit(child))
    )
    child.stdout!.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    const dashboardUrl = yield* Effect.async<string, Error>((resume) => {
      const look = () => {
        const match = /dashboard: (http:\/\/\S+)/.exec(stdout)
        if (match === null) return false
        resume(Effect.succeed(match[1]!))
        return true
      }
      const onData = () => {
        if (look()) cleanup()
      }
      const onExit = (code: number | null) => {
        cleanup()
        resume(Effect.fail(new Error(`the daemon exited (${code}) before printing its URL\nstdout: ${stdout}\nstderr: ${stderr}`)))
      }
      const timer = setTimeout(() => {
        cleanup()
        resume(Effect.fail(new Error(`the daemon printed no URL within 15 s\nstdout: ${stdout}\nstderr: ${stderr}`)))
      }, 15_000)
      const cleanup = () => {
        clearTimeout(timer)
        child.stdout!.off("data", onData)
        child.off("exit", onExit)
      }
      child.stdout!.on("data", onData)
      child.once("exit", onExit)
      if (look()) cleanup()
    })
    const url = new URL(dashboardUrl)
    return {
      child,
      dashboardUrl,
      token: url.searchParams.get("token") ?? "",
      base: `${url.protocol}//${url.host}`,
      stdout: () => stdout,
      stderr: () => stderr,
      stop: Effect.promise(() => waitExit(child))
    }
  })
