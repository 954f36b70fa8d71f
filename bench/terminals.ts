/**
 * Live terminals (issue 12): two `node dist/main.js daemon` processes, A and
 * B, on the run's Redis; a session on A running `sh`. Attached to it at once:
 * a viewer on A's `/ws` (local), a viewer on B's `/ws` (remote: the output
 * crosses Redis), and a `tmux -C` control client of the same pane (what any
 * tmux front end reads). Then, each reader seeing the same bytes:
 * - pane output → reader: a program in the pane writes `S<hrNow>` lines
 *   (`paneStamps.ts`); each reader subtracts the stamp from its receipt time;
 * - keystroke → echo: one key at a time from each reader (a viewer's `keys`
 *   message; `send-keys -l` for tmux), timed until its echo reaches that same
 *   reader (the pane's line discipline echoes it);
 * - throughput: the pane writes `burstBytes` of plain lines as fast as it
 *   can, then a stamp; each viewer's MB/s from the first byte of the burst to
 *   the stamp, and the CPU of A, B and A's tmux server per MB.
 *
 * Baselines, in the same run: for the local viewer the `tmux -C` client; for
 * the remote one, as the issue defines them, the `tmux -C` client plus the
 * raw hops the output takes (`rawHops`: an XADD read by a blocking XREAD in
 * another process, which sends it to its bare `ws` server's client, as in the
 * agents scenario), sample by sample: its i-th output latency plus the i-th
 * raw hop; an echo crosses the hops twice (keys to A, echo back), so two raw
 * hops. Throughput: a `tmux -C` client alone on a pane of a tmux server of its
 * own (no daemon's control client beside it: what tmux control mode delivers
 * to one reader) and the same bytes, in entries of the size A writes, through
 * the raw hops.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Redis } from "ioredis"
import WebSocket from "ws"
import { Limits } from "../src/domain/Limits.js"
import { startDaemonB } from "./daemonB.js"
import type { Fleet } from "./pipelines.js"
import { BURST_LINE, cpuOf, hrNow, sleep, startBenchChild, stopChild, summarize, type Summary, track, trackTmuxSocket } from "./support.js"

/** The burst lasts seconds, so its figure is a sustained rate (one of 8 MB lasted half a second, much of it warming up). */
export const TERMINALS = { stamps: 200, gapMs: 20, keys: 40, burstBytes: 32 * 1024 * 1024 } as const

type Reader = "local" | "remote" | "tmux"
const READERS: ReadonlyArray<Reader> = ["local", "remote", "tmux"]

export interface TerminalsRound {
  readonly output: Record<Reader, Summary>
  readonly echo: Record<Reader, Summary>
  /** The remote viewer's baselines: the `tmux -C` client's samples plus the raw hops', sample by sample. */
  readonly remoteBaseline: { readonly output: Summary; readonly echo: Summary }
  /** One raw hop: XADD → blocking XREAD in another process → its bare `ws` server → a client here. */
  readonly rawHop: Summary
  /** MB/s of the burst to each viewer, to a `tmux -C` client alone, and through the raw hops. */
  readonly throughput: { readonly local: number; readonly remote: number; readonly tmux: number; readonly raw: number }
  /** Fresh snapshots each viewer got during the burst (a viewer or daemon that fell behind gets the screen afresh). */
  readonly burstSnapshots: { readonly local: number; readonly remote: number }
  /** CPU seconds per MB of the burst: A's and B's processes, A's tmux server, and the lone `tmux -C` client's tmux server. */
  readonly cpuPerMB: { readonly a: number; readonly b: number; readonly tmuxA: number; readonly tmuxAlone: number }
}

const STAMPS = fileURLToPath(new URL("./paneStamps.js", import.meta.url))
const MB = 1024 * 1024

type Listener = (chunk: string, at: number) => void

interface Source {
  readonly listen: (f: Listener) => () => void
  readonly type: (key: string) => void
  readonly close: () => Promise<void>
  /** Snapshots received so far (a viewer's). */
  readonly snapshots?: () => number
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
    let snapshots = 0
    const timer = setTimeout(() => reject(new Error(`no snapshot of the session on ${wsUrl} within 10 s`)), 10_000)
    ws.once("error", reject)
    ws.once("open", () => ws.send(JSON.stringify({ type: "attach", sessionId, computer, cols: 120, rows: 40 })))
    ws.on("message", (data: Buffer) => {
      const at = hrNow()
      const frame = JSON.parse(data.toString()) as { event: string; data: { sessionId?: string; data?: string } }
      if (frame.data?.sessionId !== sessionId) return
      if (frame.event === "terminal_output") out.emit(Buffer.from(frame.data.data ?? "", "base64").toString("latin1"), at)
      if (frame.event === "terminal_snapshot") {
        // A viewer too far behind gets the screen afresh: what it shows counts as read (and the snapshot is counted).
        snapshots++
        out.emit(frame.data.data ?? "", at)
        clearTimeout(timer)
        resolve({
          listen: out.listen,
          type: (key) => ws.send(JSON.stringify({ type: "keys", sessionId, data: key })),
          close: async () => void ws.close(),
          snapshots: () => snapshots
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
      // On what was read lately, not on the chunk alone: a stamp may be split between two chunks.
      if (!matches(tail)) return
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

const tmux = (socket: string, args: ReadonlyArray<string>) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn("tmux", ["-L", socket, ...args], { stdio: ["ignore", "pipe", "ignore"] })
    let text = ""
    child.stdout.on("data", (data: Buffer) => void (text += data.toString()))
    child.once("error", reject)
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`tmux ${args[0]}: exit ${code}`))))
  })

const tmuxTarget = async (socket: string, sessionId: string) => {
  const line = (await tmux(socket, ["list-sessions", "-F", "#{session_id} #{@tf_id}"])).split("\n").find((l) => l.endsWith(` ${sessionId}`))
  if (line === undefined) throw new Error(`no tmux session for ${sessionId}`)
  return line.split(" ")[0]!
}

/** CPU seconds so far of the server of a tmux socket. */
const tmuxServerCpu = async (socket: string) => cpuOf(Number(await tmux(socket, ["display-message", "-p", "#{pid}"]))).own

/** Receipt times of the burst's first bytes and of its end stamp: from the first byte, no start-up of the writer counted. */
const burstTimes = (source: Source) =>
  Promise.all([
    first(source, (chunk) => chunk.includes(BURST_LINE.slice(0, 32)), "the start of the burst"),
    first(source, (chunk) => /E\d+\.\d+/.test(chunk), "the end of the burst")
  ]).then(([start, end]) => (TERMINALS.burstBytes / MB) / ((end - start) / 1000))

/**
 * The raw hops between A's pane and B's viewer, nothing else on them: an
 * XADD from here, read by a blocking XREAD in a `hookRaw.ts` process that
 * sends each entry to its bare `ws` server's client, here.
 */
const rawHops = async (fleet: Fleet, n: number) => {
  const key = `bench-${fleet.pid}-terminals-raw-${n}:pane`
  const relay = await startBenchChild("hookRaw", ["b", fleet.redisUrl, key])
  const producer = new Redis(fleet.redisUrl)
  const ws = new WebSocket(`ws://127.0.0.1:${String(relay.hello["port"])}/`, { perMessageDeflate: false, maxPayload: 1 << 28 })
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject))
  const out = fanOut()
  ws.on("message", (data: Buffer) => out.emit(data.toString("latin1"), hrNow()))
  const source: Source = { listen: out.listen, type: () => {}, close: async () => void ws.close() }
  return {
    /** Latencies of `count` stamps, `gapMs` apart. */
    latencies: async (count: number, gapMs: number) => {
      const collected = stampsOf(source)
      const allThere = first(source, (chunk) => chunk.includes("stamps done"), "the raw hops' stamps")
      for (let i = 0; i < count; i++) {
        await producer.xadd(key, "MAXLEN", "~", 10_000, "*", "body", `S${hrNow().toFixed(3)}\n`)
        await sleep(gapMs)
      }
      await producer.xadd(key, "*", "body", "stamps done")
      await allThere
      collected.stop()
      return collected.latencies
    },
    /** MB/s of the burst's bytes, in base64 entries of the size A writes, sent as fast as Redis takes them. */
    throughput: async () => {
      const rate = burstTimes(source)
      const entry = Buffer.from(BURST_LINE.repeat(Math.ceil(Limits.terminalOutputFrameBytes / BURST_LINE.length))).subarray(0, Limits.terminalOutputFrameBytes)
      // The first entry carries the line itself, which the start is known by.
      const entries = Math.ceil(TERMINALS.burstBytes / entry.length)
      const writes: Array<Promise<unknown>> = [producer.xadd(key, "*", "body", BURST_LINE)]
      for (let i = 1; i < entries; i++) writes.push(producer.xadd(key, "MAXLEN", "~", 10_000, "*", "body", entry.toString("base64")))
      writes.push(producer.xadd(key, "*", "body", `E${hrNow().toFixed(3)}`))
      await Promise.all(writes)
      return rate
    },
    stop: async () => {
      ws.close()
      producer.disconnect()
      await stopChild(relay.child)
    }
  }
}

/** A `tmux -C` client alone on a pane of a tmux server of its own: MB/s of the burst, and that server's CPU per MB. */
const tmuxAlone = async (socket: string) => {
  trackTmuxSocket(socket)
  await tmux(socket, ["new-session", "-d", "-s", "burst", "-x", "120", "-y", "40", "sh"])
  const reader = await controlClient(socket, "burst")
  try {
    const rate = burstTimes(reader)
    const cpu0 = await tmuxServerCpu(socket)
    await tmux(socket, ["send-keys", "-t", "burst", `node ${STAMPS} burst ${TERMINALS.burstBytes}`, "Enter"])
    const mbps = await rate
    return { mbps, cpuPerMB: ((await tmuxServerCpu(socket)) - cpu0) / (TERMINALS.burstBytes / MB) }
  } finally {
    await reader.close()
    await tmux(socket, ["kill-server"]).catch(() => "")
  }
}

let pairs = 0

/** Samples of `a` plus samples of `b`, one from each at a time (`b` taken `times` at once, cycling). */
const plus = (a: ReadonlyArray<number>, b: ReadonlyArray<number>, times: number) =>
  a.map((x, i) => {
    let sum = x
    for (let k = 0; k < times; k++) sum += b[(i * times + k) % b.length]!
    return sum
  })

export const measureTerminals = async (fleet: Fleet, log: (line: string) => void): Promise<TerminalsRound> => {
  const n = ++pairs
  const prefix = `bench-${fleet.pid}-terminals-${n}:`
  const socketA = `tfbench-${fleet.pid}-terminals${n}-alpha`
  const alpha = await startDaemonB({ ...fleet, computer: "alpha", prefix, tmuxSocket: socketA })
  const beta = await startDaemonB({ ...fleet, computer: "beta", prefix, tmuxSocket: `tfbench-${fleet.pid}-terminals${n}-beta` })
  const raw = await rawHops(fleet, n)
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
    const echoes = {} as Record<Reader, Array<number>>
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
      echoes[r] = latencies
    }
    const echo = Object.fromEntries(READERS.map((r) => [r, summarize(echoes[r])])) as Record<Reader, Summary>

    // The raw hops, alone, at the stamps' pace.
    const hops = await raw.latencies(TERMINALS.stamps, TERMINALS.gapMs)
    const tmuxStamps = collected[READERS.indexOf("tmux")]!.latencies
    const remoteBaseline = { output: summarize(plus(tmuxStamps, hops, 1)), echo: summarize(plus(echoes.tmux, hops, 2)) }

    // Throughput, and CPU per MB: A's pane read by A's control client alone (the tmux -C client leaves: each
    // control client costs tmux as much again).
    await readers.tmux.close()
    sources.splice(sources.indexOf(readers.tmux), 1)
    const cpu0 = { a: cpuOf(alpha.pid).own, b: cpuOf(beta.pid).own, tmuxA: await tmuxServerCpu(socketA) }
    const snapshotsBefore = { local: readers.local.snapshots!(), remote: readers.remote.snapshots!() }
    const rates = Promise.all([burstTimes(readers.local), burstTimes(readers.remote)])
    await typeLine(`node ${STAMPS} burst ${TERMINALS.burstBytes}`)
    const [local, remote] = await rates
    const burstSnapshots = {
      local: readers.local.snapshots!() - snapshotsBefore.local,
      remote: readers.remote.snapshots!() - snapshotsBefore.remote
    }
    const cpu1 = { a: cpuOf(alpha.pid).own, b: cpuOf(beta.pid).own, tmuxA: await tmuxServerCpu(socketA) }
    const alone = await tmuxAlone(`tfbench-${fleet.pid}-terminals${n}-alone`)
    const throughput = { local, remote, tmux: alone.mbps, raw: await raw.throughput() }
    const mb = TERMINALS.burstBytes / MB
    const cpuPerMB = {
      a: (cpu1.a - cpu0.a) / mb,
      b: (cpu1.b - cpu0.b) / mb,
      tmuxA: (cpu1.tmuxA - cpu0.tmuxA) / mb,
      tmuxAlone: alone.cpuPerMB
    }

    const line = (s: Summary) => `${s.p50.toFixed(1)} / ${s.p99.toFixed(1)} / ${s.max.toFixed(1)} ms`
    const rawHop = summarize(hops)
    log(`    pane output → reader, p50 / p99 / max: ${READERS.map((r) => `${r} ${line(output[r])}`).join("; ")}; ` +
      `tmux + raw hop ${line(remoteBaseline.output)} (raw hop ${line(rawHop)})`)
    log(`    keystroke → echo, p50 / p99 / max: ${READERS.map((r) => `${r} ${line(echo[r])}`).join("; ")}; ` +
      `tmux + 2 raw hops ${line(remoteBaseline.echo)}`)
    log(`    ${mb} MB burst, MB/s from its first byte: local ${local.toFixed(1)}, remote ${remote.toFixed(1)}; ` +
      `tmux -C alone ${throughput.tmux.toFixed(1)}, raw hops ${throughput.raw.toFixed(1)}; CPU per MB (ms): ` +
      `A ${(cpuPerMB.a * 1000).toFixed(0)}, B ${(cpuPerMB.b * 1000).toFixed(0)}, A's tmux server ${(cpuPerMB.tmuxA * 1000).toFixed(0)}, ` +
      `tmux server of the lone tmux -C ${(cpuPerMB.tmuxAlone * 1000).toFixed(0)}; fresh snapshots during it: local ` +
      `${burstSnapshots.local}, remote ${burstSnapshots.remote}`)
    return { output, echo, remoteBaseline, rawHop, throughput, burstSnapshots, cpuPerMB }
  } finally {
    for (const source of sources) await source.close()
    await raw.stop()
    await beta.stop()
    await alpha.stop()
  }
}
