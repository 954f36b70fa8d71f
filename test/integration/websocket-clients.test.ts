/**
 * What the hub promises each WebSocket client: its messages are handled in
 * the order it sent them, however fast they come, and a daemon going away
 * closes every client (1001) and waits until they are gone.
 *
 *   npx vitest run test/integration/websocket-clients.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, SubscriptionRef } from "effect"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { startDaemon } from "../support/TestDaemon.js"
import { connectWs, subscribedClient } from "../support/WsClient.js"

describe("WebSocket clients", () => {
  it.scoped("messages sent in one burst are handled in the order sent", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const client = yield* connectWs(alpha.wsUrl)
      for (let round = 0; round < 20; round++) {
        // One write of several frames: they arrive together.
        yield* client.send({ type: "subscribe", topic: "sessions" })
        yield* client.send({ type: "unsubscribe", topic: "sessions" })
        yield* client.send({ type: "subscribe", topic: "preparation" })
        yield* client.send({ type: "unsubscribe", topic: "preparation" })
        yield* client.send({ type: "subscribe", topic: "preparation" })
        yield* client.send({ type: "ping" })
        yield* client.nextEvent("pong")
        expect(yield* SubscriptionRef.get(alpha.cache.interest)).toEqual(["preparation"])
        yield* client.send({ type: "unsubscribe", topic: "preparation" })
      }
    }))

  it.scoped("going away closes every client with 1001 and returns once they are gone", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const first = yield* subscribedClient(alpha.wsUrl, "sessions")
      const second = yield* subscribedClient(alpha.wsUrl, "preparation")
      expect(yield* alpha.hub.clientCount).toBe(2)
      yield* alpha.hub.closeAll
      expect(yield* alpha.hub.clientCount).toBe(0)
      expect(yield* first.client.closed(10_000)).toBe(1001)
      expect(yield* second.client.closed(10_000)).toBe(1001)
    }))
})
