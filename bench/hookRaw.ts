/**
 * The raw hops an agent's state takes from its hook to another daemon's
 * client, without termfleet: role `a` is a bare `node:http` server that
 * XADDs each POSTed body to a Redis stream and answers 204; role `b` reads
 * that stream with a blocking XREAD and sends each body to its bare `ws`
 * server's clients. What the same path costs with nothing else on it.
 *
 * argv[2]: `a` or `b`; argv[3]: the Redis URL; argv[4]: the stream key.
 * The ready message carries the port.
 */
import { createServer } from "node:http"
import { Redis } from "ioredis"
import { WebSocketServer } from "ws"
import { serveIpc } from "./support.js"

const [role, redisUrl = "", key = ""] = process.argv.slice(2)
const redis = new Redis(redisUrl)

const listening = (server: { once: (event: "listening", f: () => void) => unknown; address: () => unknown }) =>
  new Promise<number>((resolve) => server.once("listening", () => resolve((server.address() as { port: number }).port)))

let port: Promise<number>
if (role === "a") {
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      redis.xadd(key, "MAXLEN", "~", 10_000, "*", "body", Buffer.concat(chunks).toString("utf8")).then(
        () => response.writeHead(204).end(),
        () => response.writeHead(500).end()
      )
    })
  })
  server.listen(0, "127.0.0.1")
  port = listening(server)
} else {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false })
  port = listening(server)
  let stopped = false
  // The stream is new to this process: everything in it is to be sent ("$" would miss an entry added between two reads).
  let lastId = "0"
  void (async () => {
    while (!stopped) {
      const reply = await redis.xread("COUNT", 100, "BLOCK", 1000, "STREAMS", key, lastId).catch(() => null)
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          lastId = id
          for (const ws of server.clients) ws.send(fields[1] ?? "")
        }
      }
    }
  })()
  process.on("exit", () => void (stopped = true))
}

serveIpc({})
process.send?.({ id: 0, ready: true, port: await port })
