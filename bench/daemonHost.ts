/**
 * A termfleet daemon in a process of its own, built from `daemonLayer` with
 * `productionIo` like `node dist/main.js daemon`, for the figures that need
 * what the command line cannot give: session changes made at a set pace
 * (the side-by-side's A), a cache filled with 10,000 sessions of 20
 * computers, the `tmuxCalls` counter, heap figures after a full collection,
 * and an RSS that is the daemon's alone (not the benchmark driver's).
 *
 * argv[2]: the DaemonOptions as JSON. Commands (IPC): run (paced changes),
 * upsert (one change), load, fanout, memory, counters, tmuxCalls, clients.
 */
import { Effect } from "effect"
import { join } from "node:path"
import { writeHeapSnapshot } from "node:v8"
import type { Computer } from "../src/domain/Model.js"
import { type DaemonOptions, startInProcessDaemon } from "./inProcessDaemon.js"
import { benchSession, pace, serveIpc, sleep, stamp } from "./support.js"

/** Sessions the paced changes cycle through, as in every pipeline. */
const SESSIONS = 50

const options = JSON.parse(process.argv[2] ?? "{}") as DaemonOptions
const daemon = await startInProcessDaemon(options)

let keepAlive: NodeJS.Timeout | undefined

serveIpc({
  /** Changes to this computer's sessions at `rate` for `durationMs`, each stamped just before it is made. */
  run: async (m: { run: string; rate: number; durationMs: number }) => ({
    ...await pace(m.rate, m.durationMs, (i) => daemon.upsert(benchSession(options.computer, i % SESSIONS, stamp(m.run, i))))
  }),
  upsert: (m: { run: string; i: number }) => {
    daemon.upsert(benchSession(options.computer, m.i % SESSIONS, stamp(m.run, m.i)))
    return {}
  },
  counters: () => daemon.counters(),
  /** `computers` computers (this one and made-up peers) with `perComputer` sessions each. */
  load: async (m: { computers: number; perComputer: number }) => {
    const now = Date.now()
    const peers: Array<Computer> = Array.from({ length: m.computers - 1 }, (_, c) => ({
      name: `computer-${String(c + 1).padStart(2, "0")}`,
      version: "0.1.0",
      startedAt: now,
      lastSeen: now,
      interestedIn: []
    }))
    // A peer is live for 60 s after its last heartbeat: the same heartbeat again keeps it live without news.
    const beat = () => Effect.runSync(Effect.forEach(peers, (peer) => daemon.cache.upsertComputer(peer), { discard: true }))
    beat()
    keepAlive = setInterval(beat, 10_000)
    const names = [options.computer, ...peers.map((p) => p.name)]
    let i = 0
    for (const computer of names) {
      for (let k = 0; k < m.perComputer; k++, i++) {
        daemon.upsert(benchSession(computer, i, stamp("load", i), now))
      }
      await sleep(0)
    }
    return { sessions: i }
  },
  /** One change at a time to a session of this computer, `gapMs` apart; each is stamped just before it is made. */
  fanout: async (m: { run: string; changes: number; gapMs: number }) => {
    for (let i = 0; i < m.changes; i++) {
      daemon.upsert(benchSession(options.computer, 0, stamp(m.run, i)))
      await sleep(m.gapMs)
    }
    return {}
  },
  /** With `gc` (and node --expose-gc): after two full collections, so only what is retained is counted. */
  memory: (m: { gc?: boolean }) => {
    const collect = (globalThis as { gc?: () => void }).gc
    if (m.gc === true && collect !== undefined) {
      collect()
      collect()
    }
    return { ...process.memoryUsage() }
  },
  /** For investigating memory (`npm run bench:clients` with BENCH_HEAP_DIR): a V8 heap snapshot into `dir`. */
  heapSnapshot: (m: { dir: string }) => ({ file: writeHeapSnapshot(join(m.dir, `gamma-${process.pid}.heapsnapshot`)) }),
  tmuxCalls: async () => ({ calls: await daemon.tmuxCalls() }),
  clients: async () => ({ clients: await daemon.clientCount() }),
  sessions: async () => ({ sessions: (await Effect.runPromise(daemon.cache.sessions(options.computer))).length }),
  stop: async () => {
    if (keepAlive !== undefined) clearInterval(keepAlive)
    await daemon.stop()
    return {}
  }
})
process.send?.({ id: 0, ready: true, port: daemon.port })
