/**
 * A WebSocket client that stops reading must not hold anyone up: its own
 * bounded queue fills, it alone is closed with 1013 (counted in /health as
 * droppedClients), and a client reading normally gets every event, in order.
 * A client that vanishes without a close frame is removed at once and the
 * daemon's interest recomputed. A client that sent its close frame is sent
 * nothing more while its connection stays open (`ws` would count frames sent
 * then as unread, and close it as too slow).
 *
 * One daemon built from the production Layer graph (`startDaemon`) with a
 * small per-client queue; real `ws` clients on a real socket. TCP buffers
 * absorb megabytes, so the slow client is sent 10,000 events of 4 KiB.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Stream } from "effect"
import { randomBytes } from "node:crypto"
import { connect } from "node:net"
import { defaultLimits } from "../../src/domain/Limits.js"
import type { Topic } from "../../src/domain/Model.js"
import type { SessionCacheService } from "../../src/cache/SessionCache.js"
import { pollReached, pollUntil } from "../support/Poll.js"
import { makeSession } from "../support/fixtures.js"
import { connectWs, type WsClient } from "../support/WsClient.js"
import { startDaemon, type TestDaemon } from "../support/TestDaemon.js"

const EVENTS = 10_000
const QUEUE = 64
/** The producer runs at most this far ahead of the fast client, well within its queue. */
const AHEAD = QUEUE / 2
const PAYLOAD = "x".repeat(4096)

const health = (daemon: TestDaemon) =>
  Effect.promise(() => fetch(daemon.httpUrl("/health"), { headers: daemon.authHeaders }).then((r) => r.json() as Promise<any>))

const interestBecomes = (cache: SessionCacheService, topics: ReadonlyArray<Topic>) =>
  cache.interest.changes.pipe(
    Stream.filter((current) => current.join() === topics.join()),
    Stream.runHead,
    Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`interest did not become [${topics}] within 5 s`) })
  )

const subscribe = (client: WsClient, topic: Topic) =>
  Effect.zipRight(
    client.send({ type: "subscribe", topic }),
    client.waitFor(`${topic}_initial`, (f) => f.event === `${topic}_initial`, 5_000)
  )

describe("slow and vanishing WebSocket clients", () => {
  it.scopedLive("a client that never reads is closed alone (1013); a reading client gets all 10,000 events in order", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none(), { limits: { ...defaultLimits, clientQueue: QUEUE } })

      const slow = yield* connectWs(daemon.wsUrl, { store: false })
      yield* slow.send({ type: "subscribe", topic: "sessions" })
      yield* slow.send({ type: "subscribe", topic: "preparation" })
      yield* slow.waitUntil("the slow client's two initial states", () => slow.count() >= 2, 5_000)
      const fast = yield* connectWs(daemon.wsUrl)
      yield* subscribe(fast, "sessions")
      yield* interestBecomes(daemon.cache, ["preparation", "sessions"])
      yield* slow.pause

      const from = fast.frames.length
      for (let i = 0; i < EVENTS; i++) {
        yield* daemon.cache.upsertSession(
          makeSession("solo", "busy", { lastActivity: i, lastOutput: `${i}:${PAYLOAD}` })
        )
        // Paced by what the fast client has read, never by the slow one.
        if ((i + 1) % AHEAD === 0 || i === EVENTS - 1) {
          const target = from + i + 1
          yield* fast.waitUntil(`event ${i} on the reading client`, () => fast.count() >= target, 10_000)
        }
      }

      // The reading client: every event, in order, each seq above the last, and still connected.
      const updates = fast.frames.slice(from).filter((f) => f.event === "session_updated")
      expect(updates.length).toBe(EVENTS)
      const outOfOrder = updates.findIndex((f, i) => !String(f.data.lastOutput).startsWith(`${i}:`))
      expect(outOfOrder, "index of the first event out of order on the reading client").toBe(-1)
      const seqBack = updates.findIndex((f, i) => i > 0 && !(f.seq! > updates[i - 1]!.seq!))
      expect(seqBack, "index of the first seq not above the one before").toBe(-1)
      expect(fast.closeCode()).toBeUndefined()

      // The slow client alone is dropped and counted.
      const dropped = yield* pollReached(health(daemon), (h) => h.droppedClients >= 1, "droppedClients >= 1 in /health", 5_000)
      if (Either.isLeft(dropped)) {
        const memory = process.memoryUsage().rss
        throw new Error(
          `the client that never reads was not dropped after ${EVENTS} events of ${PAYLOAD.length} B ` +
            `(client queue ${QUEUE}); ${dropped.left.message}; test process RSS ${(memory / 2 ** 20).toFixed(0)} MiB`
        )
      }
      yield* slow.resume
      expect(yield* slow.closed(20_000)).toBe(1013)
      expect(fast.closeCode()).toBeUndefined()

      // Interest recomputed without it; the reading client is still served.
      yield* interestBecomes(daemon.cache, ["sessions"])
      const after = yield* pollUntil(health(daemon), (h) => h.clients === 1, "one client left in /health", 5_000)
      expect(after).toMatchObject({ clients: 1, droppedClients: 1 })
      const mark = fast.frames.length
      yield* daemon.cache.upsertSession(makeSession("solo", "busy", { lastOutput: "after" }))
      yield* fast.waitFor("the event after the drop", (f) => f.event === "session_updated" && f.data.lastOutput === "after", 5_000, mark)
    }), 120_000)

  it.scopedLive("a client that sent its close frame but keeps its connection open is sent nothing more, and not counted as dropped", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const url = new URL(daemon.wsUrl)
      // A client of its own making: `ws` clients end their connection once the close handshake is done.
      const socket = yield* Effect.acquireRelease(
        // Half-open allowed: the daemon's end of the connection does not end this one.
        Effect.sync(() => connect({ port: Number(url.port), host: url.hostname, allowHalfOpen: true })),
        (socket) => Effect.sync(() => socket.destroy())
      )
      let received = ""
      socket.on("data", (chunk: Buffer) => void (received += chunk.toString("latin1")))
      const headers = Object.entries(daemon.authHeaders).map(([name, value]) => `${name}: ${value}\r\n`).join("")
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n${headers}\r\n`
      )
      // Masked with the zero key, so the payload is sent as it is.
      const frame = (opcode: number, payload: Buffer) => Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload])
      yield* pollUntil(Effect.sync(() => received), (text) => text.includes("\r\n\r\n"), "the handshake's answer", 5_000)
      socket.write(frame(0x1, Buffer.from(JSON.stringify({ type: "subscribe", topic: "sessions" }))))
      yield* pollUntil(Effect.sync(() => received), (text) => text.includes("sessions_initial"), "sessions_initial", 5_000)
      socket.write(frame(0x8, Buffer.from([0x03, 0xe8])))
      // The daemon's close frame back: the handshake is done on its side, the connection still open on ours.
      yield* pollUntil(Effect.sync(() => received), (text) => text.includes("\x88\x02\x03\xe8"), "the daemon's close frame", 5_000)

      // More than the 8 MiB a client may leave unread.
      for (let i = 0; i < 2500; i++) {
        yield* daemon.cache.upsertSession(makeSession("solo", "busy", { lastActivity: i, lastOutput: `${i}:${PAYLOAD}` }))
      }
      const other = yield* connectWs(daemon.wsUrl)
      yield* subscribe(other, "sessions")
      expect(yield* health(daemon)).toMatchObject({ droppedClients: 0 })
    }))

  it.scopedLive("a client that vanishes without a close frame is removed at once and interest recomputed", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const leaving = yield* connectWs(daemon.wsUrl)
      yield* subscribe(leaving, "preparation")
      const staying = yield* connectWs(daemon.wsUrl)
      yield* subscribe(staying, "sessions")
      yield* interestBecomes(daemon.cache, ["preparation", "sessions"])
      expect(yield* daemon.hub.clientCount).toBe(2)

      yield* leaving.terminate
      yield* interestBecomes(daemon.cache, ["sessions"])
      yield* pollUntil(health(daemon), (h) => h.clients === 1, "one client in /health", 5_000)

      const mark = staying.frames.length
      yield* staying.send({ type: "ping" })
      yield* staying.waitFor("pong", (f) => f.event === "pong", 5_000, mark)
      yield* daemon.cache.upsertSession(makeSession("solo", "s1"))
      yield* staying.waitFor("session_updated", (f) => f.event === "session_updated" && f.data.sessionId === "s1", 5_000, mark)
    }))
})
