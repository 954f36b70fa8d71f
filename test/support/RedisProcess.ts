/**
 * A `redis-server` process of its own on a free loopback port, nothing kept
 * on disk; for the tests (`RedisServer.ts`) and the benchmarks alike.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { freePort } from "./FreePort.js"

export interface RedisServer {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly stop: () => Promise<void>
}

export const startRedisServer = async (port?: number): Promise<RedisServer> => {
  const chosen = port ?? (await freePort())
  const child = spawn("redis-server", [
    "--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"
  ], { stdio: ["ignore", "pipe", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("Ready to accept connections")) resolve()
    }
    child.stdout.on("data", onData)
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`)))
  })
  child.removeAllListeners("exit")
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  }
}
