/**
 * Pipelines driven the same way (paced sends of stamped sessions, a
 * receiver that reports which arrived and how late); termfleet's and the
 * peer's are in `compare.ts`, the raw hops here:
 * - redis: ioredis XADD → blocking XREAD, two connections, one redis-server;
 * - ws: a bare `ws` server process → a `ws` client process.
 */
import type { ChildProcess } from "node:child_process"
import { Redis } from "ioredis"
import { type DaemonB, startDaemonB } from "./daemonB.js"
import { type InProcessDaemon, startInProcessDaemon } from "./inProcessDaemon.js"
import {
  ask,
  benchSession,
  hrNow,
  pace,
  type Paced,
  sleep,
  STAMP,
  stamp,
  startBenchChild,
  stopChild,
  summarize,
  type Summary,
  tempDir,
  trackTmuxSocket
} from "./support.js"

export interface Counted {
  readonly distinct: number
  readonly closed: number
}

export interface Collected extends Counted {
  readonly latencies: ReadonlyArray<number>
  /** The seq of each latency, in the same order (when the receiver knows it). */
  readonly order?: ReadonlyArray<number>
}

export interface Pipeline {
  readonly name: string
  readonly run: (run: string, rate: number, durationMs: number) => Promise<Paced>
  readonly count: (run: string) => Promise<Counted>
  readonly collect: (run: string) => Promise<Collected>
  /** termfleet only, when asked for: when each change became readable in B's stream. */
  readonly collectStream?: (run: string) => Promise<Collected>
  /** termfleet only: entries A has pushed and B has applied so far (from A's Stats and B's /health). */
  readonly hopCounters?: () => Promise<Hops>
  readonly stop: () => Promise<void>
}

export interface Hops {
  readonly pushed: number
  readonly applied: number
}

export interface Fleet {
  readonly redisUrl: string
  readonly token: string
  readonly secret: string
  readonly pid: number
}

/** Sessions the pipelines cycle through: each event changes one of them. */
const SESSIONS = 50

// ---------------------------------------------------------------------------
// Receiver: a `clients.ts` child with one client

const receiver = async (url: string, headers: Record<string, string>, subscribe: string | null) => {
  const { child } = await startBenchChild("clients")
  await ask(child, { cmd: "connect", url, n: 1, headers, subscribe })
  return {
    child,
    count: (run: string) => ask<Counted>(child, { cmd: "count", run }),
    collect: (run: string) => ask<Collected>(child, { cmd: "collect", run })
  }
}

// ---------------------------------------------------------------------------
// termfleet: A → Redis → B → client

export interface FleetPair {
  readonly a: InProcessDaemon
  readonly b: DaemonB
  readonly prefix: string
  readonly stop: () => Promise<void>
}

let pairs = 0
/** A fresh pair of daemons under a fresh key prefix: alpha in this process, beta a CLI child. */
export const startFleetPair = async (fleet: Fleet, scenario: string): Promise<FleetPair> => {
  const n = ++pairs
  const prefix = `bench-${fleet.pid}-${n}-${scenario}:`
  const tmuxA = `tfbench-${fleet.pid}-${n}-alpha`
  trackTmuxSocket(tmuxA)
  const a = await startInProcessDaemon({
    computer: "alpha",
    redisUrl: fleet.redisUrl,
    prefix,
    tmuxSocket: tmuxA,
    token: fleet.token,
    fleetSecret: fleet.secret,
    stateDir: tempDir("alpha")
  })
  const b = await startDaemonB({ ...fleet, computer: "beta", prefix, tmuxSocket: `tfbench-${fleet.pid}-${n}-beta` })
  return {
    a,
    b,
    prefix,
    stop: async () => {
      await b.stop()
      await a.stop()
    }
  }
}

// ---------------------------------------------------------------------------
// redis: XADD → blocking XREAD

let streams = 0
export const redisPipeline = async (fleet: Fleet): Promise<Pipeline> => {
  const key = `bench-${fleet.pid}-raw-${++streams}:events`
  const producer = new Redis(fleet.redisUrl)
  const consumer = new Redis(fleet.redisUrl)
  const runs = new Map<string, { seqs: Set<number>; latencies: Array<number> }>()
  let stopped = false
  let lastId = "0"
  const loop = (async () => {
    while (!stopped) {
      const reply = await consumer.xread("COUNT", 512, "BLOCK", 1000, "STREAMS", key, lastId).catch(() => null)
      const at = hrNow()
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          lastId = id
          const body = JSON.parse(fields[1] ?? "{}") as { session?: { lastOutput?: string } }
          const match = STAMP.exec(body.session?.lastOutput ?? "")
          if (match === null) continue
          let entry = runs.get(match[2]!)
          if (entry === undefined) runs.set(match[2]!, (entry = { seqs: new Set(), latencies: [] }))
          entry.seqs.add(Number(match[3]))
          entry.latencies.push(at - Number(match[1]))
        }
      }
    }
  })()
  return {
    name: "redis",
    run: (run, rate, durationMs) =>
      pace(rate, durationMs, (i) => {
        // The same body termfleet puts in its entries (a session_updated event), the same trimming.
        const body = JSON.stringify({ _tag: "session_updated", session: benchSession("alpha", i % SESSIONS, stamp(run, i)) })
        producer.xadd(key, "MAXLEN", "~", 10_000, "*", "body", body).catch(() => undefined)
      }),
    count: async (run) => ({ distinct: runs.get(run)?.seqs.size ?? 0, closed: 0 }),
    collect: async (run) => {
      const entry = runs.get(run)
      runs.delete(run)
      return { distinct: entry?.seqs.size ?? 0, closed: 0, latencies: entry?.latencies ?? [] }
    },
    stop: async () => {
      stopped = true
      await loop
      producer.disconnect()
      consumer.disconnect()
    }
  }
}

// ---------------------------------------------------------------------------
// ws: a bare ws server process → a ws client process

export const wsPeer = async (): Promise<{ child: ChildProcess; port: number }> => {
  const { child } = await startBenchChild("wsPeer")
  const { port } = await ask<{ port: number }>(child, { cmd: "port" })
  return { child, port }
}

/** One client of a bare ws server: `server`'s, which it leaves running, or one of its own. */
export const wsPipeline = async (given?: { child: ChildProcess; port: number }): Promise<Pipeline> => {
  const server = given ?? await wsPeer()
  const client = await receiver(`ws://127.0.0.1:${server.port}/`, {}, null)
  return {
    name: "ws",
    run: (run, rate, durationMs) =>
      ask<Paced>(server.child, { cmd: "run", run, rate, durationMs }, durationMs * 3 + 30_000),
    count: client.count,
    collect: client.collect,
    stop: async () => {
      await stopChild(client.child)
      if (given === undefined) await stopChild(server.child)
    }
  }
}

// ---------------------------------------------------------------------------
// Measuring

export interface RunResult {
  readonly rate: number
  /** termfleet: entries A pushed to B's stream and B applied during this run (and its drain). */
  readonly hops?: Hops
  /** termfleet with a stream spy: change → readable in B's stream, and from there → B's client. */
  readonly split?: { readonly toStream: Summary; readonly fromStream: Summary }
  readonly sent: number
  readonly received: number
  /** The rate the sender actually managed. */
  readonly achieved: number
  readonly closed: number
  readonly latency: Summary
}

/** Sends at `rate` for `durationMs`, then waits (at most `drainMs`, less if nothing moves for a while) for the rest. */
export const measure = async (
  pipeline: Pipeline,
  run: string,
  rate: number,
  durationMs: number,
  drainMs: number
): Promise<RunResult> => {
  const before = await pipeline.hopCounters?.()
  const paced = await pipeline.run(run, rate, durationMs)
  const deadline = hrNow() + drainMs
  let seen = -1
  let movedAt = hrNow()
  for (;;) {
    const { distinct } = await pipeline.count(run)
    if (distinct >= paced.sent || hrNow() > deadline) break
    if (distinct !== seen) {
      seen = distinct
      movedAt = hrNow()
    } else if (hrNow() - movedAt > 2000) break
    await sleep(50)
  }
  const collected = await pipeline.collect(run)
  const after = await pipeline.hopCounters?.()
  const hops = before === undefined || after === undefined
    ? undefined
    : { pushed: after.pushed - before.pushed, applied: after.applied - before.applied }
  const split = pipeline.collectStream === undefined ? undefined : splitAt(await pipeline.collectStream(run), collected)
  return {
    ...(split === undefined ? {} : { split }),
    ...(hops === undefined ? {} : { hops }),
    rate,
    sent: paced.sent,
    received: collected.distinct,
    achieved: (paced.sent * 1000) / paced.elapsedMs,
    closed: collected.closed,
    latency: summarize(collected.latencies)
  }
}

/** Pairs the two readings of each change by its seq. */
const splitAt = (stream: Collected, client: Collected) => {
  const atStream = new Map<number, number>()
  stream.order?.forEach((seq, i) => atStream.set(seq, stream.latencies[i]!))
  const toStream: Array<number> = []
  const fromStream: Array<number> = []
  client.order?.forEach((seq, i) => {
    const first = atStream.get(seq)
    if (first === undefined) return
    toStream.push(first)
    fromStream.push(client.latencies[i]! - first)
  })
  return { toStream: summarize(toStream), fromStream: summarize(fromStream) }
}

/** Every event arrived, none later than this after it was sent (no growing backlog), and the rate was offered. */
export const MAX_LAG_MS = 500

export const passed = (r: RunResult) =>
  r.received === r.sent && r.closed === 0 && r.latency.max <= MAX_LAG_MS && r.achieved >= 0.95 * r.rate

export interface Throughput {
  readonly steps: ReadonlyArray<RunResult>
  /** The highest offered rate that passed, if any. */
  readonly best: RunResult | undefined
}

export const STEP_MS = 2000
export const STEP_RATES = [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000] as const
export const TOP_RATE = STEP_RATES[STEP_RATES.length - 1]!

/** Doubles the rate until a step fails (or the last rate), then tries once half-way between the last pass and the fail. */
export const stepThroughput = async (pipeline: Pipeline, log: (line: string) => void): Promise<Throughput> => {
  const steps: Array<RunResult> = []
  let best: RunResult | undefined
  let failed: RunResult | undefined
  const step = async (rate: number) => {
    const result = await measure(pipeline, `tp${rate}`, rate, STEP_MS, 3000)
    steps.push(result)
    const ok = passed(result)
    log(
      `    ${pipeline.name} ${rate}/s: ${ok ? "pass" : "FAIL"} (received ${result.received}/${result.sent}, ` +
        `offered ${Math.round(result.achieved)}/s, p99 ${result.latency.p99.toFixed(1)} ms, max ${result.latency.max.toFixed(1)} ms` +
        `${result.closed > 0 ? `, client closed` : ""}` +
        `${result.hops === undefined ? "" : `; A pushed ${result.hops.pushed}, B applied ${result.hops.applied}`})`
    )
    return { ok, result }
  }
  for (const rate of STEP_RATES) {
    const { ok, result } = await step(rate)
    if (!ok) {
      failed = result
      break
    }
    best = result
  }
  if (failed !== undefined) {
    // Let what is still in flight arrive before the next step, so it starts from an empty pipeline.
    await drain(pipeline, failed)
    const low = best?.rate ?? 0
    const mid = Math.round((low + failed.rate) / 2 / 100) * 100
    if (mid > low && mid < failed.rate) {
      const { ok, result } = await step(mid)
      if (ok) best = result
      else await drain(pipeline, result)
    }
  }
  return { steps, best }
}

/** Waits until nothing more arrives for a failed step's run (bounded). */
const drain = async (pipeline: Pipeline, r: RunResult) => {
  const run = `tp${r.rate}`
  const deadline = hrNow() + 20_000
  let seen = -1
  let movedAt = hrNow()
  while (hrNow() < deadline) {
    const { distinct } = await pipeline.count(run)
    if (distinct !== seen) {
      seen = distinct
      movedAt = hrNow()
    } else if (hrNow() - movedAt > 1000) break
    await sleep(100)
  }
  await pipeline.collect(run)
}
