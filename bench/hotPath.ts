/**
 * `npm run bench:hot`: termfleet's hot path alone, for profiling while
 * changing it: A and B (`daemonHost.ts`) on a fresh redis-server, one client
 * of B; after a warm-up, CPU time (utime+stime) per event of A and of B at
 * each of `BENCH_HOT_RATES` (default 1000 and 8000 ev/s), with latency.
 * With BENCH_CPU_PROF=<dir> both daemons write CPU profiles there. With
 * BENCH_HOT_CALLGRIND=<dir>, B runs under `valgrind --tool=callgrind`
 * (slow: use low rates) and the instructions it executes per event are
 * counted, which unlike CPU time do not depend on what else the machine runs.
 */
import { execFileSync, fork } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Redis } from "ioredis"
import { startRedisServer } from "../test/support/RedisProcess.js"
import type { DaemonOptions } from "./inProcessDaemon.js"
import { measure, type Pipeline } from "./pipelines.js"
import { ask, cpuOf, hrNow, killEverything, sleep, startBenchChild, stopChild, tempDir, track, trackTmuxSocket } from "./support.js"

const rates = (process.env["BENCH_HOT_RATES"] ?? "1000,8000").split(",").map(Number)
const seconds = Number(process.env["BENCH_HOT_SECONDS"] ?? 3)
const callgrind = process.env["BENCH_HOT_CALLGRIND"]

/** B under callgrind, instrumentation off until asked for. */
const startUnderCallgrind = (dir: string, args: ReadonlyArray<string>) =>
  new Promise<{ child: ReturnType<typeof fork>; hello: Record<string, unknown> }>((resolve, reject) => {
    const child = track(fork(new URL("./daemonHost.js", import.meta.url), [...args], {
      execPath: "valgrind",
      execArgv: ["-q", "--tool=callgrind", "--instr-atstart=no", "--smc-check=all-non-file", `--callgrind-out-file=${dir}/callgrind.out.%p`, process.execPath],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    }))
    child.once("exit", (code) => reject(new Error(`B under callgrind exited (${code})`)))
    child.on("message", (m: any) => m?.ready === true && resolve({ child, hello: m }))
  })

/** Instructions B executed while `body` ran (instrumentation on, counters zeroed before, dumped after). */
const instructions = async <A>(dir: string, pid: number, body: () => Promise<A>) => {
  const control = (...args: Array<string>) => execFileSync("callgrind_control", [...args, String(pid)], { stdio: "ignore" })
  control("-z")
  control("-i", "on")
  const value = await body()
  control("-i", "off")
  const before = new Set(readdirSync(dir))
  control("-d")
  const dumped = readdirSync(dir).filter((f) => !before.has(f) && f.startsWith(`callgrind.out.${pid}.`)).sort().at(-1)
  const totals = dumped === undefined ? undefined : /^(?:totals|summary): (\d+)/m.exec(readFileSync(join(dir, dumped), "utf8"))
  return { value, ir: Number(totals?.[1] ?? NaN) }
}

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
  const b = callgrind === undefined
    ? await startBenchChild("daemonHost", [JSON.stringify(daemon("beta"))])
    : await startUnderCallgrind(callgrind, [JSON.stringify(daemon("beta"))])
  const a = (await startBenchChild("daemonHost", [JSON.stringify(daemon("alpha"))])).child
  const { child: receiver } = await startBenchChild("clients")
  await ask(receiver, {
    cmd: "connect", url: `ws://127.0.0.1:${b.hello["port"]}/ws`, n: 1,
    headers: { authorization: `Bearer ${token}` }, subscribe: "sessions", kind: "ws"
  })
  const deadline = hrNow() + 15_000
  for (let i = 0; Number((await ask(receiver, { cmd: "count", run: "probe" }))["distinct"]) === 0; i++) {
    if (hrNow() > deadline && callgrind === undefined) throw new Error("no change on A reached B's client within 15 s")
    await ask(a, { cmd: "upsert", run: "probe", i })
    await sleep(100)
  }
  const pipeline: Pipeline = {
    name: "termfleet",
    run: (run, rate, durationMs) => ask(a, { cmd: "run", run, rate, durationMs }, durationMs * 3 + 30_000),
    count: (run) => ask(receiver, { cmd: "count", run }),
    collect: (run) => ask(receiver, { cmd: "collect", run }),
    stop: async () => undefined
  }
  // B's XREADs are its batches: under load they grow, and the CPU per event shrinks with them.
  const spy = new Redis(redis.url)
  const xreads = async () => Number(/cmdstat_xread:calls=(\d+)/.exec(await spy.info("commandstats"))?.[1] ?? 0)
  await measure(pipeline, "warmup", callgrind === undefined ? 500 : 20, 2000, callgrind === undefined ? 3000 : 30_000)
  for (const rate of rates) {
    const before = { a: cpuOf(a.pid!).own, b: cpuOf(b.child.pid!).own, reads: await xreads() }
    const window = () => measure(pipeline, `hot${rate}`, rate, seconds * 1000, callgrind === undefined ? 5000 : 60_000)
    const { value: r, ir } = callgrind === undefined ? { value: await window(), ir: NaN } : await instructions(callgrind, b.child.pid!, window)
    if (callgrind !== undefined) console.log(`@${rate}/s: B executed ${(ir / r.sent / 1000).toFixed(0)} k instructions per event`)
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
