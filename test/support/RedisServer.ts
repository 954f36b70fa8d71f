/**
 * A real `redis-server` for a test file: started on a free loopback port
 * (or `TERMFLEET_TEST_REDIS_URL` when set), stopped after the file.
 */
import { spawn } from "node:child_process"
import { afterAll, beforeAll } from "vitest"
import { freePort } from "./FreePort.js"

export { freePort }

export interface RedisServer {
  readonly url: string
  readonly port: number
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
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      })
  }
}

/** Registers a Redis for the current test file; call the answer inside tests for its URL. */
export const useRedis = (): (() => string) => {
  let server: RedisServer | undefined
  const fromEnv = process.env["TERMFLEET_TEST_REDIS_URL"]
  beforeAll(async () => {
    if (fromEnv === undefined) server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return () => fromEnv ?? server!.url
}

let unique = 0
/** A key prefix no other test uses, so tests sharing a Redis stay apart. */
export const uniquePrefix = (name: string) => `t${process.pid}-${Date.now()}-${++unique}-${name}:`
