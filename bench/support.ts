/**
 * What every part of the benchmark shares: one clock, pacing, percentiles,
 * free ports, child processes that are always cleaned up, and the session
 * shape every pipeline sends (so each carries the same bytes).
 */
import { type ChildProcess, execFileSync, fork, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleepMs } from "node:timers/promises"
import type { Session } from "../src/domain/Model.js"
import { freePort } from "../test/support/FreePort.js"

export { freePort }

/**
 * One clock for every process of the run: CLOCK_MONOTONIC (libuv's hrtime),
 * which is system-wide on Linux, so a stamp taken in one process can be
 * compared with a reading in another. Milliseconds, sub-microsecond precision.
 */
export const hrNow = (): number => Number(process.hrtime.bigint()) / 1e6

export const sleep = (ms: number): Promise<void> => sleepMs(Math.max(0, ms)).then(() => undefined)

export interface Paced {
  readonly sent: number
  readonly elapsedMs: number
}

/**
 * Calls `emit` `rate * durationMs / 1000` times, on schedule: each timer tick
 * emits every event that is due, so a late tick catches up instead of
 * lowering the rate. Timers, not a busy loop: the machine has 2 cores and the
 * systems under test need them.
 */
export const pace = async (rate: number, durationMs: number, emit: (i: number) => void): Promise<Paced> => {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000))
  const start = hrNow()
  let sent = 0
  while (sent < total) {
    const due = Math.min(total, Math.floor(((hrNow() - start) * rate) / 1000) + 1)
    while (sent < due) emit(sent++)
    if (sent >= total) break
    await sleep(start + (sent * 1000) / rate - hrNow())
  }
  return { sent, elapsedMs: hrNow() - start }
}

export interface Summary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index]!
}

export const summarize = (values: ReadonlyArray<number>): Summary => {
  const sorted = [...values].sort((a, b) => a - b)
  const sum = sorted.reduce((a, b) => a + b, 0)
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]!,
    mean: sorted.length === 0 ? NaN : sum / sorted.length
  }
}

// ---------------------------------------------------------------------------
// Child processes: every one is registered, and killed when the run ends,
// whether it ends well, fails, or is interrupted.

const children = new Set<ChildProcess>()
const tmuxSockets = new Set<string>()
const tempDirs = new Set<string>()

/** A fresh temporary folder, removed when the run ends. */
export const tempDir = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `tfbench-${name}-`))
  tempDirs.add(dir)
  return dir
}

/** Where `tmux -L` puts a socket; tmux leaves the file behind when its server exits. */
const tmuxSocketPath = (socket: string) => join(process.env["TMUX_TMPDIR"] || "/tmp", `tmux-${process.getuid?.()}`, socket)

export const track = <C extends ChildProcess>(child: C): C => {
  children.add(child)
  child.once("exit", () => children.delete(child))
  return child
}

/** The process ids of the run's children still running (daemons, clients, redis-server). */
export const runningChildren = (): ReadonlyArray<number> =>
  [...children].flatMap((child) => (child.pid === undefined || child.exitCode !== null ? [] : [child.pid]))

export const trackTmuxSocket = (socket: string) => void tmuxSockets.add(socket)

/** Stops a child: SIGTERM, then SIGKILL after `graceMs`. */
export const stopChild = (child: ChildProcess, graceMs = 2000): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })

/** Synchronous, so it also runs from `process.on("exit")`. */
export const killEverything = () => {
  for (const child of children) {
    try {
      child.kill("SIGKILL")
    } catch {
      // already gone
    }
  }
  children.clear()
  for (const socket of tmuxSockets) {
    try {
      execFileSync("tmux", ["-L", socket, "kill-server"], { stdio: "ignore", timeout: 5000 })
    } catch {
      // no server on it
    }
    rmSync(tmuxSocketPath(socket), { force: true })
  }
  tmuxSockets.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** With BENCH_CPU_PROF=<dir>, the daemons and the peer's servers write V8 CPU profiles there when they stop. */
export const profiling = process.env["BENCH_CPU_PROF"]
const PROFILED = new Set(["daemonHost", "sioPeer"])

/** A compiled bench child (`bench/<name>.ts`) with an IPC channel. */
export const forkBenchChild = (name: string, args: ReadonlyArray<string> = [], execArgv: ReadonlyArray<string> = []) =>
  track(fork(new URL(`./${name}.js`, import.meta.url), [...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: [
      ...execArgv,
      ...(profiling !== undefined && PROFILED.has(name) ? ["--cpu-prof", `--cpu-prof-dir=${profiling}`] : [])
    ]
  }))

/** Forks a bench child and waits for its `ready` message (which it answers), so no command is sent before it listens. */
export const startBenchChild = (name: string, args: ReadonlyArray<string> = [], execArgv: ReadonlyArray<string> = []) =>
  new Promise<{ readonly child: ChildProcess; readonly hello: Record<string, unknown> }>((resolve, reject) => {
    const child = forkBenchChild(name, args, execArgv)
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s`)), 30_000)
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code}) before it was ready`))
    child.once("exit", onExit)
    child.on("message", function onReady(message: any) {
      if (message?.ready !== true) return
      clearTimeout(timer)
      child.off("message", onReady)
      child.off("exit", onExit)
      resolve({ child, hello: message })
    })
  })

export { spawn }

// ---------------------------------------------------------------------------
// CPU time, from /proc

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** utime+stime of a process and of its waited-for children, in seconds, from /proc/<pid>/stat (zero once it is gone). */
export const cpuOf = (pid: number) => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return { own: 0, children: 0 }
  }
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number)
  // Fields 14-17 of proc(5), counted from field 3 (state) here.
  const [utime, stime, cutime, cstime] = [fields[11]!, fields[12]!, fields[13]!, fields[14]!]
  return { own: (utime + stime) / CLK_TCK, children: (cutime + cstime) / CLK_TCK }
}

/** A process's resident set (VmRSS), in bytes, from /proc/<pid>/status: the same for every process measured. */
export const rssOf = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  if (match === null) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}

/**
 * CPU seconds so far: of the whole machine (busy time of all cores, /proc/stat),
 * and of the benchmark's own processes: this one, the children it has reaped,
 * and the children still running with theirs (daemons reap their tmux clients).
 */
export const cpuSnapshot = () => {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  const busy = fields.reduce((a, b, i) => (i === 3 || i === 4 || i > 7 ? a : a + b), 0)
  let bench = 0
  for (const pid of [process.pid, ...runningChildren()]) {
    const cpu = cpuOf(pid)
    bench += cpu.own + cpu.children
  }
  return { at: hrNow(), machine: busy / CLK_TCK, bench }
}

export type CpuSnapshot = ReturnType<typeof cpuSnapshot>

/** Cores busy on average between two snapshots: with the benchmark's processes, and with every other process. */
export const coresBetween = (before: CpuSnapshot, after: CpuSnapshot) => {
  const seconds = (after.at - before.at) / 1000
  const bench = (after.bench - before.bench) / seconds
  return { bench, other: Math.max(0, (after.machine - before.machine) / seconds - bench) }
}

// ---------------------------------------------------------------------------
// Request/response over IPC

export interface IpcReply {
  readonly id: number
  readonly error?: string
  readonly [key: string]: unknown
}

let nextId = 0
/** Sends `{...message, id}` to a child and resolves with its reply carrying the same id. */
export const ask = <R = Record<string, unknown>>(
  child: ChildProcess,
  message: Record<string, unknown>,
  timeoutMs = 60_000
): Promise<R & IpcReply> =>
  new Promise((resolve, reject) => {
    const id = ++nextId
    const timer = setTimeout(() => {
      child.off("message", onMessage)
      reject(new Error(`child did not answer ${String(message["cmd"])} within ${timeoutMs} ms`))
    }, timeoutMs)
    const onMessage = (reply: unknown) => {
      const r = reply as IpcReply
      if (typeof r !== "object" || r === null || r.id !== id) return
      clearTimeout(timer)
      child.off("message", onMessage)
      if (r.error !== undefined) reject(new Error(`${String(message["cmd"])}: ${r.error}`))
      else resolve(r as R & IpcReply)
    }
    child.on("message", onMessage)
    child.send({ ...message, id })
  })

/** The child side: answers each `{cmd, id}` with the handler's result (or its error). */
export const serveIpc = (handlers: Record<string, (message: any) => Promise<Record<string, unknown>> | Record<string, unknown>>) => {
  process.on("message", (message: any) => {
    const handler = handlers[message?.cmd]
    const reply = (body: Record<string, unknown>) => process.send?.({ ...body, id: message.id })
    if (handler === undefined) return reply({ error: `unknown command ${message?.cmd}` })
    Promise.resolve()
      .then(() => handler(message))
      .then(reply, (error: unknown) => reply({ error: error instanceof Error ? error.stack ?? error.message : String(error) }))
  })
  // The parent went away (it failed, or was killed): do not linger.
  process.on("disconnect", () => process.exit(0))
  // An orderly exit, so a CPU profile (BENCH_CPU_PROF) is written.
  process.on("SIGTERM", () => process.exit(0))
}

// ---------------------------------------------------------------------------
// What is sent

/** The fan-out figure: clients of one daemon, the processes they live in, changes made, and their spacing. */
export const FANOUT = { clients: 1000, processes: 2, changes: 20, gapMs: 250 } as const

/** A few lines of made-up pane output, the size of a typical `lastOutput` tail. */
const FILLER = [
  "  ✓ test/unit/decoders.test.ts (42 tests) 118ms",
  "  ✓ test/unit/flags.test.ts (17 tests) 35ms",
  " Test Files  12 passed (12)"
].join("\n")

/** `t=<hrNow> r=<run> n=<seq>`: the first line of `lastOutput`, read back by the receiver. */
export const stamp = (run: string, seq: number, at: number = hrNow()) => `t=${at.toFixed(4)} r=${run} n=${seq}\n${FILLER}`

/** The line `paneStamps.ts` writes again and again in a burst: 79 characters and a newline, a terminal's ordinary line, no control sequences. */
export const BURST_LINE = `${"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(2).slice(0, 79)}\n`

export const STAMP = /^t=(\d+(?:\.\d+)?) r=([\w-]+) n=(\d+)/

export const sessionId = (i: number) => (0x100000000000 + i).toString(16).slice(-12)

export const benchSession = (computer: string, i: number, lastOutput: string, now = Date.now()): Session => ({
  sessionId: sessionId(i),
  computer,
  title: `agent ${i}`,
  projectPath: `/home/me/projects/project-${i % 37}`,
  command: "claude --dangerously-skip-permissions",
  status: "running",
  createdAt: now - 3_600_000,
  lastActivity: now,
  lastInput: "make test",
  lastOutput
})
