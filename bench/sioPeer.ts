/**
 * The peer termfleet is compared with: what a Node.js engineer would reach
 * for to get "a change on one server reaches the WebSocket clients of another
 * through Redis Streams": socket.io 4.8 with its official Redis Streams
 * adapter, on the same redis-server as termfleet.
 *
 * - role `b`: an HTTP server with socket.io, checking a bearer token on every
 *   connection (`Authorization: Bearer`, as termfleet's clients present it);
 *   a client sends `subscribe` with a topic and joins that room (acked, as
 *   termfleet answers a subscribe with its initial state).
 * - role `a`: a socket.io server without clients of its own; each change is
 *   `io.to("sessions").emit("session_updated", session)`, which the adapter
 *   XADDs to the stream every server reads.
 *
 * argv[2]: `{ role, redisUrl, streamName, token }` as JSON. Commands (IPC):
 * run (paced changes, the same pacer as termfleet's A), upsert (one change),
 * fanout, memory, clients.
 */
import { createAdapter } from "@socket.io/redis-streams-adapter"
import { Redis } from "ioredis"
import { createServer } from "node:http"
import { Server } from "socket.io"
import { benchSession, pace, serveIpc, sleep, stamp } from "./support.js"

interface PeerOptions {
  readonly role: "a" | "b"
  readonly redisUrl: string
  readonly streamName: string
  readonly token: string
}

const options = JSON.parse(process.argv[2] ?? "{}") as PeerOptions
const redis = new Redis(options.redisUrl)
await new Promise<void>((resolve, reject) => {
  redis.once("ready", () => resolve())
  redis.once("error", reject)
})
const adapter = createAdapter(redis, { streamName: options.streamName, channelPrefix: options.streamName })
const http = createServer()
const io = new Server(http, { adapter, transports: ["websocket"], serveClient: false })

const bearer = `Bearer ${options.token}`
io.use((socket, next) => {
  next(socket.handshake.headers.authorization === bearer ? undefined : new Error("unauthorized"))
})
io.on("connection", (socket) => {
  socket.on("subscribe", (topic: unknown, ack: unknown) => {
    if (topic !== "sessions") return
    void socket.join(topic)
    if (typeof ack === "function") ack({ ok: true })
  })
})

const port = options.role === "b"
  ? await new Promise<number>((resolve) => http.listen(0, "127.0.0.1", () => resolve((http.address() as { port: number }).port)))
  : 0

const SESSIONS = 50
const change = (run: string, i: number) =>
  void io.to("sessions").emit("session_updated", benchSession("alpha", i % SESSIONS, stamp(run, i)))

serveIpc({
  run: async (m: { run: string; rate: number; durationMs: number }) => ({ ...await pace(m.rate, m.durationMs, (i) => change(m.run, i)) }),
  upsert: (m: { run: string; i: number }) => {
    change(m.run, m.i)
    return {}
  },
  fanout: async (m: { run: string; changes: number; gapMs: number }) => {
    for (let i = 0; i < m.changes; i++) {
      io.to("sessions").emit("session_updated", benchSession("alpha", 0, stamp(m.run, i)))
      await sleep(m.gapMs)
    }
    return {}
  },
  memory: () => ({ ...process.memoryUsage() }),
  clients: () => ({ clients: io.of("/").sockets.size })
})
process.send?.({ id: 0, ready: true, port })
