/**
 * termfleet side by side with the off-the-shelf peer (socket.io 4.8 with
 * @socket.io/redis-streams-adapter, `sioPeer.ts`) and the raw hops (Redis
 * XADD → XREAD, a bare `ws` server), in rounds.
 *
 * In each round each system is measured the same way: B is started alone
 * (its start-up and idle RSS), then A; one client of B receives what A's
 * paced changes become (latency at 100 and 1,000 ev/s, and the CPU A and B
 * spend per event at 1,000 ev/s), the rate is stepped up until a step loses
 * or lags (zero-loss throughput), then 1,000 clients of B receive one change
 * on A at a time (fan-out) and B's RSS is read. The order of the systems
 * alternates from round to round. A system's round during which other
 * processes of the machine kept a noticeable share of the CPU busy is
 * measured again (at most `MAX_ATTEMPTS` times), and the report says so.
 */
import type { ChildProcess } from "node:child_process"
import { startDaemonB } from "./daemonB.js"
import { type DaemonOptions } from "./inProcessDaemon.js"
import { type Fleet, measure, type Pipeline, redisPipeline, type RunResult, stepThroughput, type Throughput, wsPeer, wsPipeline } from "./pipelines.js"
import {
  ask,
  coresBetween,
  cpuOf,
  cpuSnapshot,
  FANOUT,
  hrNow,
  rssOf,
  sleep,
  startBenchChild,
  stopChild,
  summarize,
  type Summary,
  tempDir,
  trackTmuxSocket
} from "./support.js"

type Log = (line: string) => void

/** Other processes' average CPU (in cores) above which a system's round is measured again. */
export const OTHER_CORES_LIMIT = Number(process.env["BENCH_OTHER_CORES"] ?? 0.2)
export const MAX_ATTEMPTS = 3

export const LATENCY_RUNS = [
  { rate: 100, durationMs: 4000 },
  { rate: 1000, durationMs: 3000 }
] as const

export interface Fanout {
  readonly connectMs: number
  readonly delivered: number
  readonly expected: number
  readonly closed: number
  readonly latency: Summary
}

export interface CpuPerEvent {
  /** Milliseconds of CPU (user + system) per event, of A's and of B's process, at 1,000 ev/s. */
  readonly a: number
  readonly b: number
}

export interface SystemRound {
  /** From forking B's process to B serving, connected to Redis. */
  readonly startupMs: number
  /** B's RSS a second after it started, before any client. */
  readonly idleRss: number
  readonly latency: Record<number, RunResult>
  readonly cpu: CpuPerEvent
  readonly throughput: Throughput
  readonly fanout: Fanout
  /** B's RSS with the fan-out's clients connected. */
  readonly rssWithClients: number
  /** termfleet: latency again with a reader of B's stream, split where the change became readable there. */
  readonly split?: Record<number, RunResult>
}

export interface LatencyRound {
  readonly latency: Record<number, RunResult>
  readonly cpu: CpuPerEvent
}

export interface RedisRound {
  readonly latency: Record<number, RunResult>
  readonly throughput: Throughput
}

export interface WsRound {
  readonly latency: Record<number, RunResult>
  readonly throughput: Throughput
  readonly fanout: Fanout
  readonly rssWithClients: number
}

export interface Attempted<A> {
  readonly value: A
  /** Cores other processes kept busy on average while it was measured. */
  readonly otherCores: number
  /** The other processes' load during each attempt that was measured again. */
  readonly discarded: ReadonlyArray<number>
}

export interface Round {
  readonly index: number
  /** The order the systems were measured in. */
  readonly order: ReadonlyArray<string>
  readonly termfleet: Attempted<SystemRound>
  readonly peer: Attempted<SystemRound>
  /** termfleet again, its B serving 100 idle tmux sessions (so its tmux listing has something to list). */
  readonly withSessions: Attempted<LatencyRound>
  readonly redis: Attempted<RedisRound>
  readonly ws: Attempted<WsRound>
}

/** Measures `body` again while other processes keep a noticeable share of the CPU busy; keeps the least disturbed attempt. */
export const attempted = async <A>(what: string, log: Log, body: () => Promise<A>): Promise<Attempted<A>> => {
  const tries: Array<{ value: A; other: number }> = []
  for (let i = 1; i <= MAX_ATTEMPTS; i++) {
    const before = cpuSnapshot()
    const value = await body()
    const { other, bench } = coresBetween(before, cpuSnapshot())
    tries.push({ value, other })
    if (other <= OTHER_CORES_LIMIT) break
    log(`    ${what}: other processes kept ${other.toFixed(2)} cores busy (the benchmark ${bench.toFixed(2)})` +
      (i < MAX_ATTEMPTS ? "; measuring it again" : `; keeping the least disturbed of ${MAX_ATTEMPTS} attempts`))
  }
  const kept = tries.reduce((a, b) => (b.other < a.other ? b : a))
  return { value: kept.value, otherCores: kept.other, discarded: tries.filter((t) => t !== kept).map((t) => t.other) }
}

// ---------------------------------------------------------------------------
// A system under test: A and B in processes of their own, one receiving client of B

interface SystemUnderTest {
  readonly pipeline: Pipeline
  readonly a: ChildProcess
  /** B's process id, for its CPU time and RSS. */
  readonly bPid: number
  readonly bUrl: string
  readonly kind: "ws" | "socket.io"
  readonly subscribe: string
  readonly startupMs: number
  readonly idleRss: number
  /**
   * termfleet: the pipeline with a second reader of B's stream (started on
   * the first call), which records when each change became readable there.
   * It costs Redis a second reply per entry and the machine a process, which
   * the peer's runs do not pay, so only the split's own runs have it.
   */
  readonly withSpy?: () => Promise<Pipeline>
  /** Stops the receiving client only (before the fan-out's clients connect). */
  readonly dropReceiver: () => Promise<void>
  readonly stop: () => Promise<void>
}

const headersOf = (fleet: Fleet) => ({ authorization: `Bearer ${fleet.token}` })

let systems = 0

/** B's RSS a second after it started serving, before any client. */
const idleRssOf = async (pid: number) => {
  await sleep(1000)
  return rssOf(pid)
}

/**
 * termfleet's B is `node dist/main.js daemon`, as users run it (`--redis`,
 * secrets in the environment, `--max-clients` for the fan-out's clients).
 * A is a daemon host (`daemonHost.ts`, `daemonLayer` + `productionIo` as the
 * command builds them) because the benchmark makes A's session changes
 * itself, at a set pace, with the call tmux's reports end in.
 */
const startTermfleet = async (fleet: Fleet, label: string, bTmuxSocket?: string) => {
  const prefix = `bench-${fleet.pid}-${++systems}-${label}:`
  const bSocket = bTmuxSocket ?? `tfbench-${fleet.pid}-${systems}-beta`
  const b = await startDaemonB({ ...fleet, computer: "beta", prefix, tmuxSocket: bSocket, maxClients: FANOUT.clients + 100 })
  const idleRss = await idleRssOf(b.pid)
  const aSocket = `tfbench-${fleet.pid}-${systems}-alpha`
  trackTmuxSocket(aSocket)
  const aOptions: DaemonOptions = {
    computer: "alpha",
    redisUrl: fleet.redisUrl,
    prefix,
    tmuxSocket: aSocket,
    token: fleet.token,
    fleetSecret: fleet.secret,
    stateDir: tempDir("alpha")
  }
  const { child: a } = await startBenchChild("daemonHost", [JSON.stringify(aOptions)])
  return { a, b, idleRss, spyKey: `${prefix}events:beta` }
}

const startPeer = async (fleet: Fleet) => {
  const peer = (role: "a" | "b") =>
    JSON.stringify({ role, redisUrl: fleet.redisUrl, streamName: `bench-${fleet.pid}-${++systems}-sio`, token: fleet.token })
  const streamName = peer("b")
  const t0 = hrNow()
  const { child: b, hello } = await startBenchChild("sioPeer", [streamName])
  const startupMs = hrNow() - t0
  const idleRss = await idleRssOf(b.pid!)
  // A writes to the stream B reads.
  const { child: a } = await startBenchChild("sioPeer", [streamName.replace('"role":"b"', '"role":"a"')])
  return { a, b, port: Number(hello["port"]), startupMs, idleRss }
}

const startSystem = async (fleet: Fleet, system: "termfleet" | "socket.io", bTmuxSocket?: string): Promise<SystemUnderTest> => {
  const kind = system === "termfleet" ? "ws" : "socket.io"
  const started = system === "termfleet"
    ? await (async () => {
      const { a, b, idleRss, spyKey } = await startTermfleet(fleet, bTmuxSocket === undefined ? "compare" : "sessions", bTmuxSocket)
      return {
        a,
        bPid: b.pid,
        bUrl: b.wsUrl,
        startupMs: b.startupMs,
        idleRss,
        spyKey,
        eventsIn: async () => Number((await b.health())["eventsIn"]),
        stopB: b.stop
      }
    })()
    : await (async () => {
      const { a, b, port, startupMs, idleRss } = await startPeer(fleet)
      return {
        a,
        bPid: b.pid!,
        bUrl: `http://127.0.0.1:${port}`,
        startupMs,
        idleRss,
        spyKey: undefined,
        eventsIn: undefined,
        stopB: () => stopChild(b, 5000)
      }
    })()
  const { a, bUrl, eventsIn } = started
  const { child: receiver } = await startBenchChild("clients")
  await ask(receiver, { cmd: "connect", url: bUrl, n: 1, headers: headersOf(fleet), subscribe: "sessions", kind })
  // termfleet: the subscribe reaches A with B's heartbeat, then A pushes; the peer's adapters find each other.
  const deadline = hrNow() + 15_000
  for (let i = 0; Number((await ask(receiver, { cmd: "count", run: "probe" }))["distinct"]) === 0; i++) {
    if (hrNow() > deadline) throw new Error(`${system}: no change on A reached B's client within 15 s`)
    await ask(a, { cmd: "upsert", run: "probe", i })
    await sleep(100)
  }
  await ask(receiver, { cmd: "collect", run: "probe" })
  let spy: ChildProcess | undefined
  const stopReceivers = async () => {
    await stopChild(receiver)
    if (spy !== undefined) await stopChild(spy)
  }
  const pipeline: Pipeline = {
    name: system,
    run: (run, rate, durationMs) => ask(a, { cmd: "run", run, rate, durationMs }, durationMs * 3 + 30_000),
    count: (run) => ask(receiver, { cmd: "count", run }),
    collect: (run) => ask(receiver, { cmd: "collect", run }),
    ...(eventsIn === undefined
      ? {}
      : { hopCounters: async () => ({ pushed: Number((await ask(a, { cmd: "counters" }))["eventsOut"]), applied: await eventsIn() }) }),
    stop: async () => undefined
  }
  const { spyKey } = started
  return {
    pipeline,
    ...(spyKey === undefined ? {} : {
      withSpy: async () => {
        if (spy === undefined) {
          spy = (await startBenchChild("clients")).child
          await ask(spy, { cmd: "spy", redisUrl: fleet.redisUrl, key: spyKey })
        }
        const reader = spy
        return { ...pipeline, collectStream: (run: string) => ask(reader, { cmd: "collect", run: `stream:${run}` }) }
      }
    }),
    a,
    bPid: started.bPid,
    bUrl,
    kind,
    subscribe: "sessions",
    startupMs: started.startupMs,
    idleRss: started.idleRss,
    dropReceiver: stopReceivers,
    stop: async () => {
      await stopReceivers()
      await started.stopB()
      await stopChild(a, 5000)
    }
  }
}

// ---------------------------------------------------------------------------
// Figures

const describe = (r: RunResult) =>
  `p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, max ${r.latency.max.toFixed(2)} ms, received ${r.received}/${r.sent}` +
  (r.split === undefined ? "" : `; change → B's stream p50 ${r.split.toStream.p50.toFixed(2)} / p99 ${r.split.toStream.p99.toFixed(2)} ms, ` +
    `B's stream → client p50 ${r.split.fromStream.p50.toFixed(2)} / p99 ${r.split.fromStream.p99.toFixed(2)} ms`)

/** After a warm-up: latency at each rate; with `cpuOf`, the CPU A and B spent per event at 1,000 ev/s. */
const latencies = async (pipeline: Pipeline, log: Log, processes?: { a: number; b: number }) => {
  // JIT and connection warm-up, not measured.
  await measure(pipeline, "warmup", 500, 1000, 3000)
  const latency: Record<number, RunResult> = {}
  let cpu: CpuPerEvent = { a: NaN, b: NaN }
  for (const { rate, durationMs } of LATENCY_RUNS) {
    const before = processes === undefined ? undefined : { a: cpuOf(processes.a), b: cpuOf(processes.b) }
    const r = await measure(pipeline, `lat${rate}`, rate, durationMs, 5000)
    if (processes !== undefined && before !== undefined && rate === 1000) {
      const perEvent = (pid: number, was: { own: number }) => ((cpuOf(pid).own - was.own) * 1000) / r.sent
      cpu = { a: perEvent(processes.a, before.a), b: perEvent(processes.b, before.b) }
    }
    log(`    ${pipeline.name} @${rate}/s: ${describe(r)}` +
      (rate === 1000 && processes !== undefined ? `; CPU per event A ${cpu.a.toFixed(3)} ms, B ${cpu.b.toFixed(3)} ms` : ""))
    latency[rate] = r
  }
  return { latency, cpu }
}

/** `FANOUT.clients` clients in `FANOUT.processes` processes; one change at a time, stamped where it is made. */
export const fanout = async (
  clientProcs: ReadonlyArray<ChildProcess>,
  connect: { url: string; headers: Record<string, string>; subscribe: string | null; kind: "ws" | "socket.io" },
  trigger: () => Promise<unknown>,
  run: string
): Promise<Fanout> => {
  const connectStart = hrNow()
  await Promise.all(clientProcs.map((child) =>
    ask(child, { cmd: "connect", ...connect, n: FANOUT.clients / clientProcs.length, concurrency: 10 }, 120_000)
  ))
  const connectMs = hrNow() - connectStart
  await sleep(1000)
  await trigger()
  const expected = FANOUT.changes * FANOUT.clients / clientProcs.length
  const deadline = hrNow() + 10_000
  while (hrNow() < deadline) {
    const counts = await Promise.all(clientProcs.map((child) => ask<{ frames: number }>(child, { cmd: "count", run })))
    if (counts.every((c) => c.frames >= expected)) break
    await sleep(100)
  }
  const collected = await Promise.all(clientProcs.map((child) =>
    ask<{ frames: number; latencies: Array<number>; closed: number }>(child, { cmd: "collect", run })
  ))
  return {
    connectMs,
    delivered: collected.reduce((n, c) => n + c.frames, 0),
    expected: FANOUT.changes * FANOUT.clients,
    closed: collected.reduce((n, c) => n + c.closed, 0),
    latency: summarize(collected.flatMap((c) => c.latencies))
  }
}

export const closeClients = (clientProcs: ReadonlyArray<ChildProcess>) =>
  Promise.all(clientProcs.map((child) => ask(child, { cmd: "close" }, 60_000)))

const describeFanout = (f: Fanout) =>
  `p50 ${f.latency.p50.toFixed(1)} ms, p99 ${f.latency.p99.toFixed(1)} ms, max ${f.latency.max.toFixed(1)} ms, ` +
  `${f.delivered}/${f.expected} delivered (clients connected in ${(f.connectMs / 1000).toFixed(1)} s)`

const MB = 1024 * 1024

/** Each fan-out has a run name of its own: frames of an earlier one still arriving are not counted in it. */
let fanouts = 0

const systemRound = async (
  fleet: Fleet,
  system: "termfleet" | "socket.io",
  clientProcs: ReadonlyArray<ChildProcess>,
  log: Log
): Promise<SystemRound> => {
  const sut = await startSystem(fleet, system)
  try {
    log(`    ${system}: B started in ${sut.startupMs.toFixed(0)} ms, idle RSS ${(sut.idleRss / MB).toFixed(0)} MB`)
    const { latency, cpu } = await latencies(sut.pipeline, log, { a: sut.a.pid!, b: sut.bPid })
    const throughput = await stepThroughput(sut.pipeline, log)
    const split = sut.withSpy === undefined ? undefined : (await latencies(await sut.withSpy(), log)).latency
    await sut.dropReceiver()
    const run = `fanout${++fanouts}`
    const f = await fanout(
      clientProcs,
      { url: sut.bUrl, headers: headersOf(fleet), subscribe: sut.subscribe, kind: sut.kind },
      () => ask(sut.a, { cmd: "fanout", run, changes: FANOUT.changes, gapMs: FANOUT.gapMs }, 60_000),
      run
    )
    const rssWithClients = rssOf(sut.bPid)
    log(`    ${system} fan-out A → ${FANOUT.clients} clients of B: ${describeFanout(f)}; B's RSS ${(rssWithClients / MB).toFixed(0)} MB`)
    await closeClients(clientProcs)
    return { startupMs: sut.startupMs, idleRss: sut.idleRss, latency, cpu, throughput, fanout: f, rssWithClients, ...(split === undefined ? {} : { split }) }
  } finally {
    await sut.stop()
  }
}

const withSessionsRound = async (fleet: Fleet, tmuxSocket: string, log: Log): Promise<LatencyRound> => {
  const sut = await startSystem(fleet, "termfleet", tmuxSocket)
  try {
    return await latencies({ ...sut.pipeline, name: "termfleet, B with 100 tmux sessions" }, log, { a: sut.a.pid!, b: sut.bPid })
  } finally {
    await sut.stop()
  }
}

const redisRound = async (fleet: Fleet, log: Log): Promise<RedisRound> => {
  const pipeline = await redisPipeline(fleet)
  try {
    const { latency } = await latencies(pipeline, log)
    return { latency, throughput: await stepThroughput(pipeline, log) }
  } finally {
    await pipeline.stop()
  }
}

const wsRound = async (clientProcs: ReadonlyArray<ChildProcess>, log: Log): Promise<WsRound> => {
  const server = await wsPeer()
  try {
    const pipeline = await wsPipeline(server)
    const { latency } = await latencies(pipeline, log)
    const throughput = await stepThroughput(pipeline, log)
    await pipeline.stop()
    const run = `fanout${++fanouts}`
    const f = await fanout(
      clientProcs,
      { url: `ws://127.0.0.1:${server.port}/`, headers: {}, subscribe: null, kind: "ws" },
      () => ask(server.child, { cmd: "fanout", run, changes: FANOUT.changes, gapMs: FANOUT.gapMs }, 60_000),
      run
    )
    const rssWithClients = rssOf(server.child.pid!)
    log(`    bare ws fan-out to ${FANOUT.clients} clients: ${describeFanout(f)}; RSS ${(rssWithClients / MB).toFixed(0)} MB`)
    await closeClients(clientProcs)
    return { latency, throughput, fanout: f, rssWithClients }
  } finally {
    await stopChild(server.child)
  }
}

/** `rounds` rounds; termfleet and the peer swap places every round, and so do the two raw baselines. */
export const compare = async (fleet: Fleet, rounds: number, sessionsSocket: string, log: Log): Promise<ReadonlyArray<Round>> => {
  const clientProcs = await Promise.all(Array.from({ length: FANOUT.processes }, () => startBenchChild("clients")))
    .then((started) => started.map((s) => s.child))
  const out: Array<Round> = []
  try {
    for (let index = 1; index <= rounds; index++) {
      const steps = {
        termfleet: () => attempted(`round ${index}, termfleet`, log, () => systemRound(fleet, "termfleet", clientProcs, log)),
        peer: () => attempted(`round ${index}, socket.io`, log, () => systemRound(fleet, "socket.io", clientProcs, log)),
        withSessions: () => attempted(`round ${index}, termfleet with sessions`, log, () => withSessionsRound(fleet, sessionsSocket, log)),
        redis: () => attempted(`round ${index}, redis`, log, () => redisRound(fleet, log)),
        ws: () => attempted(`round ${index}, ws`, log, () => wsRound(clientProcs, log))
      }
      const order: Array<keyof typeof steps> = index % 2 === 1
        ? ["termfleet", "peer", "withSessions", "redis", "ws"]
        : ["peer", "termfleet", "withSessions", "ws", "redis"]
      log(`  round ${index} of ${rounds}: ${order.join(", ")}`)
      const results: Partial<{ [K in keyof typeof steps]: Awaited<ReturnType<(typeof steps)[K]>> }> = {}
      for (const step of order) (results as Record<string, unknown>)[step] = await steps[step]()
      out.push({ index, order, ...(results as Required<typeof results>) })
    }
    return out
  } finally {
    await Promise.all(clientProcs.map((child) => stopChild(child)))
  }
}
