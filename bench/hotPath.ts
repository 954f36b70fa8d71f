/**
 * `npm run bench:hot`: termfleet's hot path alone, for profiling while
 * changing it: A and B (`daemonHost.ts`) on a fresh redis-server, one client
 * of B; after a warm-up, CPU time (utime+stime) per event of A and of B at
 * each of `BENCH_HOT_RATES` (default 1000 and 8000 ev/s), with latency.
 * With BENCH_CPU_PROF=<dir> both daemons write CPU profiles there; with
 * BENCH_HOT_SYSTEM=socket.io the same is measured of the peer (`sioPeer.ts`).
 */
import { randomBytes } from "node:crypto"
import { Redis } from "ioredis"
import { startRedisServer } from "../test/support/RedisProcess.js"
import type { DaemonOptions } from "./inProcessDaemon.js"
import { measure, type Pipeline } from "./pipelines.js"
import { ask, cpuOf, hrNow, killEverything, sleep, startBenchChild, stopChild, tempDir, trackTmuxSocket } from "./support.js"

const rates = (process.env["BENCH_HOT_RATES"] ?? "1000,8000").split(",").map(Number)
const seconds = Number(process.env["BENCH_HOT_SECONDS"] ?? 3)
const peer = process.env["BENCH_HOT_SYSTEM"] === "socket.io"

const redis = await startRedisServer()
try {
  const token = randomBytes(16).toString("hex")
  const secret = randomBytes(32).toString("hex")
  const daemon = (computer: string): DaemonOptions => {
    const tmuxSocket = `tfhot-${process.pid}-${computer}`
    trackTmuxSocket(tmuxSocket)
    return {
      computer, redisUrl: redis.url, prefix: `hot-${process.pid}:`, tmuxSocket, token,
      fleetSecret: secret, stateDir: tempDir(computer)
    }
  }
  const sio = (role: "a" | "b") => JSON.stringify({ role, redisUrl: redis.url, streamName: `hot-${process.pid}-sio`, token })
  const b = peer ? await startBenchChild("sioPeer", [sio("b")]) : await startBenchChild("daemonHost", [JSON.stringify(daemon("beta"))])
  const a = (peer ? await startBenchChild("sioPeer", [sio("a")]) : await startBenchChild("daemonHost", [JSON.stringify(daemon("alpha"))])).child
  const { child: receiver } = await startBenchChild("clients")
  await ask(receiver, {
    cmd: "connect", url: peer ? `http://127.0.0.1:${b.hello["port"]}` : `ws://127.0.0.1:${b.hello["port"]}/ws`, n: 1,
    headers: { authorization: `Bearer ${token}` }, subscribe: "sessions", kind: peer ? "socket.io" : "ws"
  })
  const deadline = hrNow() + 15_000
  for (let i = 0; Number((await ask(receiver, { cmd: "count", run: "probe" }))["distinct"]) === 0; i++) {
    if (hrNow() > deadline) throw new Error("no change on A reached B's client within 15 s")
    await ask(a, { cmd: "upsert", run: "probe", i })
    await sleep(100)
  }
  const pipeline: Pipeline = {
    name: peer ? "socket.io" : "termfleet",
    run: (run, rate, durationMs) => ask(a, { cmd: "run", run, rate, durationMs }, durationMs * 3 + 30_000),
    count: (run) => ask(receiver, { cmd: "count", run }),
    collect: (run) => ask(receiver, { cmd: "collect", run }),
    stop: async () => undefined
  }
  // B's XREADs are its batches: under load they grow, and the CPU per event shrinks with them.
  const spy = new Redis(redis.url)
  const xreads = async () => Number(/cmdstat_xread:calls=(\d+)/.exec(await spy.info("commandstats"))?.[1] ?? 0)
  await measure(pipeline, "warmup", 500, 2000, 3000)
  for (const rate of rates) {
    const before = { a: cpuOf(a.pid!).own, b: cpuOf(b.child.pid!).own, reads: await xreads() }
    const r = await measure(pipeline, `hot${rate}`, rate, seconds * 1000, 5000)
    const cpuB = (cpuOf(b.child.pid!).own - before.b) * 1000
    const reads = (await xreads()) - before.reads
    const per = (now: number, was: number) => (((now - was) * 1000) / r.sent).toFixed(3)
    console.log(`@${rate}/s: CPU per event A ${per(cpuOf(a.pid!).own, before.a)} ms, B ${(cpuB / r.sent).toFixed(3)} ms ` +
      `(${(r.sent / reads).toFixed(2)} events per read, ${(cpuB / reads).toFixed(3)} ms per read); ` +
      `p50 ${r.latency.p50.toFixed(2)} p99 ${r.latency.p99.toFixed(2)} max ${r.latency.max.toFixed(2)} ms; received ${r.received}/${r.sent}`)
  }
  spy.disconnect()
  await stopChild(receiver)
  await stopChild(b.child, 5000)
  await stopChild(a, 5000)
} finally {
  killEverything()
  await redis.stop()
}
