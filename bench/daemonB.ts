/** A real `node dist/main.js daemon` child process, as a user starts it. */
import { fileURLToPath } from "node:url"
import { freePort, hrNow, profiling, sleep, spawn, stopChild, tempDir, track, trackTmuxSocket } from "./support.js"

/** dist/bench-build/bench/daemonB.js → dist/main.js, the output of `npm run build`. */
export const MAIN = fileURLToPath(new URL("../../main.js", import.meta.url))

export interface DaemonB {
  readonly pid: number
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
}

export const startDaemonB = async (options: DaemonBOptions): Promise<DaemonB> => {
  const port = await freePort()
  const stateDir = tempDir(options.computer)
  trackTmuxSocket(options.tmuxSocket)
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("TERMFLEET_")) env[name] = value
  const child = track(spawn(process.execPath, [
    ...(profiling === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profiling}`]),
    MAIN, "daemon",
    "--computer", options.computer,
    "--redis", options.redisUrl,
    "--port", String(port),
    "--prefix", options.prefix,
    "--token", options.token,
    "--fleet-secret", options.secret,
    "--tmux-socket", options.tmuxSocket,
    "--state-dir", stateDir
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
  // `dashboard: ...` is printed once the daemon is fully up.
  while (!output.includes("dashboard:")) {
    if (child.exitCode !== null) throw new Error(`daemon ${options.computer} exited (${child.exitCode}):\n${output}`)
    if (hrNow() > deadline) throw new Error(`daemon ${options.computer} not up within 20 s:\n${output}`)
    await sleep(20)
  }
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon ${options.computer} exited (${child.exitCode}):\n${output}`)
    if (hrNow() > deadline) throw new Error(`daemon ${options.computer} not ready within 20 s:\n${output}`)
    const state = await health().then((h) => h["redis"], () => undefined)
    if (state === "connected") break
    await sleep(50)
  }
  return {
    pid: child.pid ?? 0,
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
