/** A real `node dist/main.js daemon` child process, as a user starts it. */
import { fileURLToPath } from "node:url"
import { freePort, hrNow, profiling, sleep, spawn, stopChild, tempDir, track, trackTmuxSocket } from "./support.js"

/** dist/bench-build/bench/daemonB.js → dist/main.js, the output of `npm run build`. */
export const MAIN = fileURLToPath(new URL("../../main.js", import.meta.url))

export interface DaemonB {
  readonly pid: number
  /** From spawning the process to the daemon serving, connected to Redis. */
  readonly startupMs: number
  readonly port: number
  readonly wsUrl: string
  readonly headers: Record<string, string>
  readonly health: () => Promise<Record<string, unknown>>
  readonly stop: () => Promise<void>
}

export interface DaemonBOptions {
  readonly computer: string
  readonly redisUrl: string
  readonly prefix: string
  readonly token: string
  readonly secret: string
  readonly tmuxSocket: string
  /** `--max-clients` (the daemon's default when not given). */
  readonly maxClients?: number
}

export const startDaemonB = async (options: DaemonBOptions): Promise<DaemonB> => {
  const port = await freePort()
  const stateDir = tempDir(options.computer)
  trackTmuxSocket(options.tmuxSocket)
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("TERMFLEET_")) env[name] = value
  // Secrets in the environment, as the README tells users to give them (a flag is readable by every user).
  env["TERMFLEET_TOKEN"] = options.token
  env["TERMFLEET_FLEET_SECRET"] = options.secret
  const spawned = hrNow()
  const child = track(spawn(process.execPath, [
    ...(profiling === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profiling}`]),
    MAIN, "daemon",
    "--computer", options.computer,
    "--redis", options.redisUrl,
    "--port", String(port),
    "--prefix", options.prefix,
    "--tmux-socket", options.tmuxSocket,
    "--state-dir", stateDir,
    ...(options.maxClients === undefined ? [] : ["--max-clients", String(options.maxClients)])
  ], { stdio: ["ignore", "pipe", "pipe"], env }))
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => void (output += chunk.toString()))
  child.stderr?.on("data", (chunk: Buffer) => void (output += chunk.toString()))
  const headers = { authorization: `Bearer ${options.token}` }
  // A timeout on every probe: a request that reaches the port after it listens but before the
  // routes are served is never answered (the server listens while the other layers are still built).
  const health = async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { headers, signal: AbortSignal.timeout(2000) })
    return (await response.json()) as Record<string, unknown>
  }
  const deadline = hrNow() + 20_000
  // `dashboard: ...` is printed once the daemon is fully up; waited for as it is printed, not polled,
  // since the comparison times start-up to this moment.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(`daemon ${options.computer} not up within 20 s:\n${output}`)), 20_000)
    const check = () => {
      if (output.includes("dashboard:")) settle()
    }
    const exited = () => settle(new Error(`daemon ${options.computer} exited (${child.exitCode}):\n${output}`))
    const settle = (error?: Error) => {
      clearTimeout(timer)
      child.stdout?.off("data", check)
      child.off("exit", exited)
      if (error === undefined) resolve()
      else reject(error)
    }
    child.stdout?.on("data", check)
    child.once("exit", exited)
  })
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon ${options.computer} exited (${child.exitCode}):\n${output}`)
    if (hrNow() > deadline) throw new Error(`daemon ${options.computer} not ready within 20 s:\n${output}`)
    const state = await health().then((h) => h["redis"], () => undefined)
    if (state === "connected") break
    await sleep(10)
  }
  const startupMs = hrNow() - spawned
  return {
    pid: child.pid ?? 0,
    startupMs,
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    headers,
    health,
    stop: async () => {
      await stopChild(child, 5000)
      if (child.exitCode !== 0) {
        console.error(`daemon ${options.computer} did not stop cleanly (${child.exitCode ?? child.signalCode}):\n${output.slice(-2000)}`)
      }
    }
  }
}
