/**
 * A `redis-server` process of its own on a free loopback port, nothing kept
 * on disk; for the tests (`RedisServer.ts`) and the benchmarks alike.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./FreePort.js"

export interface RedisServer {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly stop: () => Promise<void>
}

/** `redis-server` on a free loopback port (or `port`), with `extraArgs` (`--replicaof 127.0.0.1 6379`). */
export const startRedisServer = (port?: number, extraArgs: ReadonlyArray<string> = []): Promise<RedisServer> =>
  spawnRedis(port, (chosen) => [
    "--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes", ...extraArgs
  ], "Ready to accept connections")

/**
 * Starts `redis-server` with the arguments `args` makes for its port, and
 * waits until it prints `ready`; the URL is `redis://127.0.0.1:<port>`.
 */
export const spawnRedis = async (
  port: number | undefined,
  args: (port: number) => ReadonlyArray<string>,
  ready: string
): Promise<RedisServer> => {
  const chosen = port ?? (await freePort())
  // A working folder of its own: a replica writes the RDB it syncs there, whatever `--save` says.
  const dir = mkdtempSync(join(tmpdir(), "tf-redis-"))
  const child = spawn("redis-server", args(chosen), { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
  await new Promise<void>((resolve, reject) => {
    let output = ""
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes(ready)) resolve()
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
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.kill("SIGKILL")
      }).then(() => rmSync(dir, { recursive: true, force: true }))
  }
}
