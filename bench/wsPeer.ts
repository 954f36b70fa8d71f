/**
 * The bare `ws` baseline: a WebSocket server in a process of its own that
 * sends the very frames a termfleet daemon sends (`session_updated` with a
 * stamped session, serialised with JSON.stringify per event) to the clients
 * of `clients.ts` in another process. No Effect, no queues, no Redis: what
 * a WebSocket hop costs on this machine.
 *
 * Commands (IPC): run (paced one-way stream), fanout (one frame to every
 * client, repeated), setInitial / an `initial` client message (a big frame
 * of the size of a sessions_initial, already serialised), memory (its RSS).
 */
import { WebSocketServer, type WebSocket } from "ws"
import { benchSession, hrNow, pace, serveIpc, sleep, stamp } from "./support.js"

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
const clients = new Set<WebSocket>()
let initialFrame = ""
let seq = 0

server.on("connection", (ws) => {
  clients.add(ws)
  ws.on("close", () => clients.delete(ws))
  ws.on("message", (data) => {
    if (data.toString() === '{"type":"initial"}') ws.send(initialFrame)
  })
})

const frameFor = (run: string, i: number) =>
  JSON.stringify({ event: "session_updated", data: benchSession("alpha", i % 50, stamp(run, i)), seq: ++seq })

const ready = new Promise<number>((resolve) => server.once("listening", () => resolve((server.address() as { port: number }).port)))

serveIpc({
  port: async () => ({ port: await ready }),
  run: async (m: { run: string; rate: number; durationMs: number }) => {
    const paced = await pace(m.rate, m.durationMs, (i) => {
      const frame = frameFor(m.run, i)
      for (const ws of clients) ws.send(frame)
    })
    return { ...paced }
  },
  fanout: async (m: { run: string; changes: number; gapMs: number }) => {
    for (let i = 0; i < m.changes; i++) {
      const frame = frameFor(m.run, i)
      for (const ws of clients) ws.send(frame)
      await sleep(m.gapMs)
    }
    return { clients: clients.size }
  },
  memory: () => ({ rss: process.memoryUsage().rss }),
  setInitial: (m: { sessions: number; computers: number }) => {
    const now = Date.now()
    const sessions = Array.from({ length: m.sessions }, (_, i) =>
      benchSession(`computer-${String(i % m.computers).padStart(2, "0")}`, i, stamp("initial", i, hrNow()), now))
    initialFrame = JSON.stringify({ event: "sessions_initial", data: { sessions, computers: [] }, seq })
    return { bytes: Buffer.byteLength(initialFrame) }
  }
})
process.send?.({ id: 0, ready: true })
