/**
 * `sessions_initial` is the cache as it is when the client subscribes, for
 * every subscriber, although the sessions in it are serialised once and
 * shared for as long as nothing changes: a change, or a peer expiring,
 * shows in the very next subscriber's initial state.
 *
 *   npx vitest run test/integration/initial-state.test.ts
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { makeSession, peerComputer } from "../support/fixtures.js"
import { startDaemon } from "../support/TestDaemon.js"
import { subscribedClient } from "../support/WsClient.js"

const idsOf = (initial: { data: { sessions: ReadonlyArray<{ sessionId: string }> } }) =>
  initial.data.sessions.map((s) => s.sessionId).sort()

describe("sessions_initial", () => {
  it.scoped("every subscriber gets the cache as it is when it subscribes", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      yield* alpha.cache.upsertSession(makeSession("alpha", "s1", { title: "ünïcode \"quoted\" \u2028" }))
      const first = yield* subscribedClient(alpha.wsUrl, "sessions")
      const second = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(second.initial.data.sessions).toEqual(first.initial.data.sessions)
      expect(second.initial.data.sessions).toEqual(yield* alpha.cache.sessions())

      // No frame of the change need have reached any client yet.
      yield* alpha.cache.upsertSession(makeSession("alpha", "s2"))
      const third = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(idsOf(third.initial)).toEqual(["s1", "s2"])

      yield* alpha.cache.removeSession({ sessionId: "s1", computer: "alpha" })
      const fourth = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(idsOf(fourth.initial)).toEqual(["s2"])
    }))

  it.scoped("a peer that expired is not in the next subscriber's initial state", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      yield* alpha.cache.upsertComputer(peerComputer("pi"))
      yield* alpha.cache.upsertSession(makeSession("pi", "p1"))
      const before = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(idsOf(before.initial)).toEqual(["p1"])

      yield* TestClock.adjust("61 seconds")
      const after = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(idsOf(after.initial)).toEqual([])
      expect(after.initial.data.computers.map((c: { name: string }) => c.name)).toEqual(["alpha"])
    }))
})
