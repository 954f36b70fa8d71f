/**
 * Live terminals (issue 12): two `node dist/main.js daemon` processes, A and
 * B, on the run's Redis; a session on A running `sh`. Attached to it at once:
 * a viewer on A's `/ws` (local), a viewer on B's `/ws` (remote: the output
 * crosses Redis), and the baseline, a `tmux -C` control client of the same
 * pane (what any tmux front end reads). Then, each reader seeing the same
 * bytes:
 * - pane output → reader: a program in the pane writes `S<hrNow>` lines
 *   (`paneStamps.ts`); each reader subtracts the stamp from its receipt time;
 * - keystroke → echo: one key at a time from each reader (a viewer's `keys`
 *   message; `send-keys -l` for tmux), timed until its echo reaches that same
 *   reader (the pane's line discipline echoes it);
 * - throughput: the pane writes `BURST_BYTES` of plain lines as fast as it
 *   can, then a stamp; each reader's MB/s from the command to the stamp, and
 *   the CPU of A's and B's processes per MB.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import WebSocket from "ws"
import { startDaemonB } from "./daemonB.js"
import type { Fleet } from "./pipelines.js"
import { cpuOf, hrNow, sleep, stopChild, summarize, type Summary, track } from "./support.js"

export const TERMINALS = { stamps: 200, gapMs: 20, keys: 40, burstBytes: 2 * 1024 * 1024 } as const

type Reader = "local" | "remote" | "tmux"
const READERS: ReadonlyArray<Reader> = ["local", "remote", "tmux"]

export interface TerminalsRound {
  readonly output: Record<Reader, Summary>
  readonly echo: Record<Reader, Summary>
  /** MB/s of the burst to each reader. */
  readonly throughput: Record<Reader, number>
  /** CPU seconds of A's and B's processes per MB of the burst. */
  readonly cpuPerMB: { readonly a: number; readonly b: number }
}

const STAMPS = fileURLToPath(new URL("./paneStamps.js", import.meta.url))
const MB = 1024 * 1024

type Listener = (chunk: string, at: number) => void

interface Source {
  readonly listen: (f: Listener) => () => void
  readonly type: (key: string) => void
  readonly close: () => Promise<void>
}

const fanOut = () => {
  const listeners = new Set<Listener>()
  return {
    emit: (chunk: string, at: number) => {
      for (const f of listeners) f(chunk, at)
    },
    listen: (f: Listener) => {
      listeners.add(f)
      return () => void listeners.delete(f)
    }
  }
}

/** A viewer on a daemon's `/ws`, attached to the session; pane bytes as latin1 text. */
const viewer = (wsUrl: string, headers: Record<string, string>, sessionId: string, computer: string) =>
  new Promise<Source>((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers, perMessageDeflate: false, maxPayload: 1 << 28 })
    const out = fanOut()
    const timer = setTimeout(() => reject(new Error(`no snapshot of the session on ${wsUrl} within 10 s`)), 10_000)
    ws.once("error", reject)
    ws.once("open", () => ws.send(JSON.stringify({ type: "attach", sessionId, computer, cols: 120, rows: 40 })))
    ws.on("message", (data: Buffer) => {
      const at = hrNow()
      const frame = JSON.parse(data.toString()) as { event: string; data: { sessionId?: string; data?: string } }
      if (frame.data?.sessionId !== sessionId) return
      if (frame.event === "terminal_output") out.emit(Buffer.from(frame.data.data ?? "", "base64").toString("latin1"), at)
      if (frame.event === "terminal_snapshot") {
        // A viewer too far behind gets the screen afresh: what it shows counts as read.
        out.emit(frame.data.data ?? "", at)
        clearTimeout(timer)
        resolve({
          listen: out.listen,
          type: (key) => ws.send(JSON.stringify({ type: "keys", sessionId, data: key })),
          close: async () => void ws.close()
        })
      }
    })
  })

/** A `tmux -C` client of the session: `%output` lines, unescaped (tmux writes bytes below space and `\` as octal). */
const controlClient = async (socket: string, target: string): Promise<Source> => {
  const child = track(spawn("tmux", ["-L", socket, "-C", "attach-session", "-t", target], { stdio: ["pipe", "pipe", "ignore"] }))
  const out = fanOut()
  let carry = ""
  child.stdout.on("data", (data: Buffer) => {
    const at = hrNow()
    const lines = (carry + data.toString("latin1")).split("\n")
    carry = lines.pop() ?? ""
    for (const line of lines) {
      if (!line.startsWith("%output ")) continue
      const escaped = line.slice(line.indexOf(" ", 8) + 1)
      out.emit(escaped.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))), at)
    }
  })
  await sleep(200)
  return {
    listen: out.listen,
    type: (key) => child.stdin.write(`send-keys -t ${target} -l ${key}\n`),
    close: async () => {
      child.stdin.end()
      await stopChild(child)
    }
  }
}

/** Resolves with the receipt time of the first chunk `matches` accepts, from now on. */
const first = (source: Source, matches: (chunk: string) => boolean, what: string) =>
  new Promise<number>((resolve, reject) => {
    let tail = ""
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`${what}: not seen within 60 s; the last bytes read: ${JSON.stringify(tail)}`))
    }, 60_000)
    const stop = source.listen((chunk, at) => {
      tail = (tail + chunk).slice(-300)
      if (!matches(chunk)) return
      clearTimeout(timer)
      stop()
      resolve(at)
    })
  })

/** Latencies of the `S<stamp>` lines a source receives, until `count` of them or `stop`. */
const stampsOf = (source: Source) => {
  const latencies: Array<number> = []
  let carry = ""
  const stop = source.listen((chunk, at) => {
    carry += chunk
    let end = 0
    for (const match of carry.matchAll(/S(\d+\.\d+)\r?\n/g)) {
      latencies.push(at - Number(match[1]))
      end = match.index + match[0].length
    }
    carry = carry.slice(Math.max(end, carry.length - 64))
  })
  return { latencies, stop }
}

const tmuxTarget = (socket: string, sessionId: string) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn("tmux", ["-L", socket, "list-sessions", "-F", "#{session_id} #{@tf_id}"], { stdio: ["ignore", "pipe", "ignore"] })
    let text = ""
    child.stdout.on("data", (data: Buffer) => void (text += data.toString()))
    child.once("exit", () => {
      const line = text.split("\n").find((l) => l.endsWith(` ${sessionId}`))
      if (line === undefined) reject(new Error(`no tmux session for ${sessionId}`))
      else resolve(line.split(" ")[0]!)
    })
  })

let pairs = 0

export const measureTerminals = async (fleet: Fleet, log: (line: string) => void): Promise<TerminalsRound> => {
  const n = ++pairs
  const prefix = `bench-${fleet.pid}-terminals-${n}:`
  const socketA = `tfbench-${fleet.pid}-terminals${n}-alpha`
  const alpha = await startDaemonB({ ...fleet, computer: "alpha", prefix, tmuxSocket: socketA })
  const beta = await startDaemonB({ ...fleet, computer: "beta", prefix, tmuxSocket: `tfbench-${fleet.pid}-terminals${n}-beta` })
  const sources: Array<Source> = []
  try {
    const alphaUrl = `http://127.0.0.1:${alpha.port}`
    const rest = (path: string, body: unknown) =>
      fetch(`${alphaUrl}${path}`, {
        method: "POST",
        headers: { ...alpha.headers, "content-type": "application/json" },
        body: JSON.stringify(body)
      }).then((response) => response.json() as Promise<{ sessionId: string }>)
    const { sessionId } = await rest("/sessions", { title: "terminal", command: "sh" })
    const typeLine = (text: string) => rest(`/sessions/${sessionId}/input`, { text })
    // B learns of the session over Redis before a viewer of B can attach to it.
    await sleep(2000)
    const readers: Record<Reader, Source> = {
      local: await viewer(alpha.wsUrl, alpha.headers, sessionId, "alpha"),
      remote: await viewer(beta.wsUrl, beta.headers, sessionId, "alpha"),
      tmux: await controlClient(socketA, await tmuxTarget(socketA, sessionId))
    }
    sources.push(...Object.values(readers))

    // Pane output → each reader.
    const collected = READERS.map((r) => stampsOf(readers[r]))
    const allThere = Promise.all(READERS.map((r) => first(readers[r], (chunk) => chunk.includes("stamps done"), "the stamps")))
    // Quoted apart, so the echo of the command line is not taken for its output.
    await typeLine(`node ${STAMPS} stamps ${TERMINALS.stamps} ${TERMINALS.gapMs}; echo stamps" "done`)
    await allThere
    collected.forEach((c) => c.stop())
    const output = Object.fromEntries(READERS.map((r, i) => [r, summarize(collected[i]!.latencies)])) as Record<Reader, Summary>

    // Keystroke → echo, one reader at a time, at the shell's prompt.
    const echo = {} as Record<Reader, Summary>
    for (const r of READERS) {
      const latencies: Array<number> = []
      for (let i = 0; i < TERMINALS.keys; i++) {
        const key = String.fromCharCode(97 + (i % 26))
        const seen = first(readers[r], (chunk) => chunk.includes(key), `the echo of '${key}' (${r})`)
        const t0 = hrNow()
        readers[r].type(key)
        latencies.push((await seen) - t0)
        await sleep(20)
      }
      // The typed line is not a command to run: Ctrl-U clears it.
      readers.local.type("\u0015")
      await sleep(200)
      echo[r] = summarize(latencies)
    }

    // Throughput, and CPU per MB.
    const cpu0 = { a: cpuOf(alpha.pid).own, b: cpuOf(beta.pid).own }
    // A reader that never sees the end (tmux may drop a control client that falls too far behind) has no rate.
    const ends = READERS.map((r) => first(readers[r], (chunk) => /E\d+\.\d+/.test(chunk), `the end of the burst (${r})`).catch(() => NaN))
    const t0 = hrNow()
    await typeLine(`node ${STAMPS} burst ${TERMINALS.burstBytes}`)
    const at = await Promise.all(ends)
    const cpu1 = { a: cpuOf(alpha.pid).own, b: cpuOf(beta.pid).own }
    const mb = TERMINALS.burstBytes / MB
    const throughput = Object.fromEntries(READERS.map((r, i) => [r, mb / ((at[i]! - t0) / 1000)])) as Record<Reader, number>
    const cpuPerMB = { a: (cpu1.a - cpu0.a) / mb, b: (cpu1.b - cpu0.b) / mb }

    const line = (s: Summary) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} / ${s.max.toFixed(1)} ms`
    log(`    pane output → reader, p50 / p99 / max: ${READERS.map((r) => `${r} ${line(output[r])}`).join("; ")}`)
    log(`    keystroke → echo, p50 / p99 / max: ${READERS.map((r) => `${r} ${line(echo[r])}`).join("; ")}`)
    log(`    ${mb} MB burst: ${READERS.map((r) => `${r} ${throughput[r].toFixed(1)} MB/s`).join("; ")}; ` +
      `CPU per MB: A ${(cpuPerMB.a * 1000).toFixed(1)} ms, B ${(cpuPerMB.b * 1000).toFixed(1)} ms`)
    return { output, echo, throughput, cpuPerMB }
  } finally {
    for (const source of sources) await source.close()
    await beta.stop()
    await alpha.stop()
  }
}
