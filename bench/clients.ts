/**
 * A child process holding WebSocket clients (plain `ws`), so that receiving
 * is not done by the process that sends. Each frame is parsed as a real
 * client would; `session_updated` frames whose `lastOutput` starts with a
 * stamp (`t=<hrNow> r=<run> n=<seq>`) are recorded as a latency: the
 * receiving time minus the stamp, on the one system-wide monotonic clock.
 *
 * Commands (IPC): connect, count, collect, close.
 */
import WebSocket from "ws"
import { Redis } from "ioredis"
import { io, type Socket as SioSocket } from "socket.io-client"
import { hrNow, serveIpc, STAMP } from "./support.js"

interface Run {
  frames: number
  readonly seqs: Set<number>
  readonly latencies: Array<number>
  /** The seq of each latency, in the same order. */
  readonly order: Array<number>
}

const runs = new Map<string, Run>()
const sockets = new Set<WebSocket>()
let closedCodes: Array<number> = []
let initialFrames = 0
let initialBytes = 0

const INITIAL_PREFIX = Buffer.from('{"event":"sessions_initial"')

const entryOf = (run: string) => {
  let entry = runs.get(run)
  if (entry === undefined) runs.set(run, (entry = { frames: 0, seqs: new Set(), latencies: [], order: [] }))
  return entry
}

const note = (lastOutput: string, at: number, prefix = "") => {
  const match = STAMP.exec(lastOutput)
  if (match === null) return
  const entry = entryOf(`${prefix}${match[2]!}`)
  const seq = Number(match[3])
  entry.frames++
  entry.seqs.add(seq)
  entry.latencies.push(at - Number(match[1]))
  entry.order.push(seq)
}

const record = (data: Buffer, at: number) => {
  // A sessions_initial of 10,000 sessions is megabytes; it is counted, not parsed, to keep this process light.
  if (data.length >= INITIAL_PREFIX.length && data.subarray(0, INITIAL_PREFIX.length).equals(INITIAL_PREFIX)) {
    initialFrames++
    initialBytes += data.length
    return
  }
  const frame = JSON.parse(data.toString("utf8")) as { event?: string; data?: { lastOutput?: unknown } }
  if (frame.event !== "session_updated" || typeof frame.data?.lastOutput !== "string") return
  note(frame.data.lastOutput, at)
}

/**
 * Reads a daemon's event stream as a second reader (XREAD does not consume, so
 * the daemon still gets every entry): when each sealed entry became readable,
 * recorded under the run `stream:<run>`.
 */
const spy = async (url: string, key: string) => {
  const redis = new Redis(url)
  let lastId = "$"
  for (;;) {
    const reply = await redis.xread("COUNT", 512, "BLOCK", 0, "STREAMS", key, lastId).catch(() => null)
    const at = hrNow()
    for (const [, entries] of reply ?? []) {
      for (const [id, flat] of entries) {
        lastId = id
        const body = flat[flat.indexOf("body") + 1] ?? "{}"
        const event = JSON.parse(body) as { session?: { lastOutput?: unknown } }
        if (typeof event.session?.lastOutput === "string") note(event.session.lastOutput, at, "stream:")
      }
    }
  }
}

const open = (url: string, headers: Record<string, string>, subscribe: string | null) =>
  new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false })
    let ready = subscribe === null
    ws.on("message", (data: Buffer) => {
      const at = hrNow()
      if (!ready && data.subarray(0, INITIAL_PREFIX.length).equals(INITIAL_PREFIX)) {
        ready = true
        resolve()
      }
      record(data, at)
    })
    ws.once("open", () => {
      sockets.add(ws)
      if (subscribe === null) resolve()
      else ws.send(JSON.stringify({ type: "subscribe", topic: subscribe }))
    })
    ws.once("close", (code) => {
      sockets.delete(ws)
      closedCodes.push(code)
      if (!ready) reject(new Error(`closed with ${code} before it was ready`))
    })
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once("error", reject)
  })

/** Open socket.io clients (the peer's): each joins the room of its topic, and is ready when the join is acked. */
const sioSockets = new Set<SioSocket>()

const openSio = (url: string, headers: Record<string, string>, subscribe: string | null) =>
  new Promise<void>((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], extraHeaders: headers, reconnection: false, forceNew: true })
    socket.on("session_updated", (session: { lastOutput?: unknown }) => {
      const at = hrNow()
      if (typeof session?.lastOutput === "string") note(session.lastOutput, at)
    })
    socket.once("connect", () => {
      sioSockets.add(socket)
      if (subscribe === null) resolve()
      else socket.emit("subscribe", subscribe, () => resolve())
    })
    socket.once("disconnect", (reason) => {
      sioSockets.delete(socket)
      if (reason !== "io client disconnect") closedCodes.push(0)
    })
    socket.once("connect_error", reject)
  })

serveIpc({
  connect: async (m: {
    url: string
    n: number
    headers: Record<string, string>
    subscribe: string | null
    concurrency?: number
    /** `socket.io`: the peer's clients; otherwise plain WebSocket clients of termfleet or the bare ws server. */
    kind?: "ws" | "socket.io"
  }) => {
    const start = hrNow()
    const concurrency = m.concurrency ?? 25
    let next = 0
    const worker = async () => {
      while (next < m.n) {
        next++
        await (m.kind === "socket.io" ? openSio : open)(m.url, m.headers, m.subscribe)
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, m.n) }, worker))
    return { connected: sockets.size + sioSockets.size, ms: hrNow() - start }
  },
  spy: (m: { redisUrl: string; key: string }) => {
    void spy(m.redisUrl, m.key)
    return {}
  },
  count: (m: { run: string }) => {
    const entry = runs.get(m.run)
    return { frames: entry?.frames ?? 0, distinct: entry?.seqs.size ?? 0, closed: closedCodes.length, open: sockets.size + sioSockets.size }
  },
  collect: (m: { run: string }) => {
    const entry = runs.get(m.run)
    runs.delete(m.run)
    return {
      frames: entry?.frames ?? 0,
      distinct: entry?.seqs.size ?? 0,
      latencies: entry?.latencies ?? [],
      order: entry?.order ?? [],
      closed: closedCodes.length,
      closedCodes: [...new Set(closedCodes)],
      initialFrames,
      initialBytes
    }
  },
  close: async () => {
    const all = [...sockets]
    await Promise.all(all.map((ws) =>
      new Promise<void>((resolve) => {
        ws.once("close", () => resolve())
        ws.close()
        setTimeout(() => {
          ws.terminate()
          resolve()
        }, 1000)
      })
    ))
    const sio = [...sioSockets]
    for (const socket of sio) socket.disconnect()
    sioSockets.clear()
    closedCodes = []
    return { closed: all.length + sio.length }
  },
  memory: () => ({ rss: process.memoryUsage().rss })
})
process.send?.({ id: 0, ready: true })
