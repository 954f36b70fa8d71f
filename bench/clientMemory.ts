/**
 * `npm run bench:clients`: what each WebSocket client costs a daemon, for
 * investigating memory. B (`daemonHost.ts`, with `--expose-gc`) on a fresh
 * redis-server; `BENCH_CLIENTS` clients (default 1,000, in two processes)
 * connect and subscribe to `sessions`, a few changes reach them; B's heap
 * and RSS after two full collections, idle and with the clients, and the
 * difference per client. Memory after a full collection is what is
 * retained, so it does not depend on the machine's load.
 * With BENCH_HEAP_DIR=<dir>, B writes a heap snapshot there with the
 * clients connected (compare retained sizes by constructor).
 */
import { randomBytes } from "node:crypto"
import { startRedisServer } from "../test/support/RedisProcess.js"
import type { DaemonOptions } from "./inProcessDaemon.js"
import { ask, killEverything, sleep, startBenchChild, tempDir, trackTmuxSocket } from "./support.js"

const clients = Number(process.env["BENCH_CLIENTS"] ?? 1000)
const heapDir = process.env["BENCH_HEAP_DIR"]
const MB = 1024 * 1024

const redis = await startRedisServer()
try {
  const token = randomBytes(16).toString("hex")
  const tmuxSocket = `tfclients-${process.pid}`
  trackTmuxSocket(tmuxSocket)
  const options: DaemonOptions = {
    computer: "beta", redisUrl: redis.url, prefix: `clients-${process.pid}:`, tmuxSocket, token,
    fleetSecret: randomBytes(32).toString("hex"), stateDir: tempDir("beta"), maxClients: clients + 100
  }
  const { child: b, hello } = await startBenchChild("daemonHost", [JSON.stringify(options)], ["--expose-gc"])
  const retained = async () => {
    const m = await ask<{ rss: number; heapUsed: number }>(b, { cmd: "memory", gc: true })
    return { rss: m.rss, heap: m.heapUsed }
  }
  await sleep(1000)
  const idle = await retained()
  const holders = await Promise.all([1, 2].map(() => startBenchChild("clients").then((s) => s.child)))
  await Promise.all(holders.map((child) =>
    ask(child, {
      cmd: "connect", url: `ws://127.0.0.1:${hello["port"]}/ws`, n: clients / holders.length,
      headers: { authorization: `Bearer ${token}` }, subscribe: "sessions", concurrency: 10
    }, 120_000)
  ))
  for (let i = 0; i < 20; i++) {
    await ask(b, { cmd: "upsert", run: "clients", i })
    await sleep(50)
  }
  await sleep(1000)
  const served = await retained()
  const line = (what: string, m: { rss: number; heap: number }) =>
    `${what}: heap ${(m.heap / MB).toFixed(1)} MB, RSS ${(m.rss / MB).toFixed(1)} MB`
  console.log(line("B idle", idle))
  console.log(line(`B with ${clients} clients`, served))
  console.log(`per client: heap ${((served.heap - idle.heap) / clients / 1024).toFixed(1)} KB, ` +
    `RSS ${((served.rss - idle.rss) / clients / 1024).toFixed(1)} KB`)
  if (heapDir !== undefined) console.log(`heap snapshot: ${String((await ask(b, { cmd: "heapSnapshot", dir: heapDir }))["file"])}`)
} finally {
  killEverything()
  await redis.stop()
}
