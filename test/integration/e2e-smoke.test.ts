/**
 * End-to-end smoke suite: the event flow of termfleet, from a session change
 * to a WebSocket client, within one daemon and across daemons.
 *
 * Every daemon here is built by `startDaemon` from `daemonLayer`, the same
 * Layer graph `termfleet daemon` runs; only `RedisClient` (one in-memory
 * store shared by the daemons of a test, as they would share a Redis) and
 * the server (port 0 on loopback) differ. Clients are real `ws` clients.
 * Time is the `TestClock`: nothing sleeps, tests await the events they
 * expect.
 *
 * Scenarios 1-10 follow `shared/seed/e2e-smoke-tests-plan.md`; 11 and 12
 * prove what that plan's system got wrong: no echo, and replay from the
 * stored last id.
 *
 * Run: `make test-smoke` (or `npx vitest run test/integration/e2e-smoke.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Option, Scope, Stream, SubscriptionRef, TestClock } from "effect"
import type { Topic } from "../../src/domain/Model.js"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { sealFields, verifyFields } from "../../src/fleet/Seal.js"
import type { SessionCacheService } from "../../src/cache/SessionCache.js"
import { makeSession, peerComputer } from "../support/fixtures.js"
import { changeWhere, entriesOf, playedPeer, sessionUpdated } from "../support/PlayedPeer.js"
import { startDaemon, TEST_FLEET_SECRET, TEST_KEYS as keys } from "../support/TestDaemon.js"
import { seqOf, subscribedClient } from "../support/WsClient.js"


const interestBecomes = (cache: SessionCacheService, topics: ReadonlyArray<Topic>) =>
  cache.interest.changes.pipe(
    Stream.filter((current) => current.join() === topics.join()),
    Stream.runHead
  )

describe("e2e smoke", () => {
  it.scoped("1. client subscribes → interest tracked → client disconnects → interest cleared", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      expect(yield* SubscriptionRef.get(alpha.cache.interest)).toEqual([])

      const { client } = yield* subscribedClient(alpha.wsUrl, "sessions")
      yield* interestBecomes(alpha.cache, ["sessions"])
      yield* client.send({ type: "subscribe", topic: "preparation" })
      yield* interestBecomes(alpha.cache, ["preparation", "sessions"])
      yield* client.send({ type: "unsubscribe", topic: "preparation" })
      yield* interestBecomes(alpha.cache, ["sessions"])

      yield* client.close
      yield* interestBecomes(alpha.cache, [])
      expect(yield* alpha.hub.clientCount).toBe(0)
    }))

  it.scoped("2. cache.upsertSession → hub fan-out → client gets session_updated", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const { client, initial } = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(initial.data.sessions).toEqual([])
      expect(initial.data.computers.map((c: { name: string }) => c.name)).toEqual(["alpha"])

      const session = makeSession("alpha", "s1", { title: "claude on termfleet" })
      yield* alpha.cache.upsertSession(session)
      const first = yield* client.next
      expect(first).toEqual({ event: "session_updated", data: session, seq: expect.any(Number) })
      expect(seqOf(first)).toBeGreaterThan(initial.seq)

      const busier = { ...session, status: "idle" as const, lastOutput: "done" }
      yield* alpha.cache.upsertSession(busier)
      const second = yield* client.next
      expect(second).toEqual({ event: "session_updated", data: busier, seq: seqOf(first)! + 1 })
    }))

  it.scoped("3. cache.removeSession → client gets session_removed", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      yield* alpha.cache.upsertSession(makeSession("alpha", "s1"))
      const { client, initial } = yield* subscribedClient(alpha.wsUrl, "sessions")
      expect(initial.data.sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual(["s1"])

      yield* alpha.cache.removeSession({ sessionId: "s1", computer: "alpha" })
      expect(yield* client.next).toMatchObject({ event: "session_removed", data: { sessionId: "s1", computer: "alpha" } })
      expect(yield* alpha.cache.sessions()).toEqual([])
    }))

  it.scoped("4. peer stops heartbeating → after its 60 s TTL its sessions are not served; projects after 5 min", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const { client } = yield* subscribedClient(alpha.wsUrl, "sessions")
      // A peer heartbeats once, sends a session, then dies without a goodbye.
      const ghost = playedPeer(redis, peerComputer("ghost"))
      yield* ghost.heartbeat(["alpha"])
      yield* ghost.push("alpha", { _tag: "session_updated", session: makeSession("ghost", "g1") })
      yield* client.nextEvent("session_updated", (s) => s.sessionId === "g1")
      yield* alpha.cache.setProjects("alpha", [{ computer: "alpha", path: "/p/termfleet", name: "termfleet" }])

      yield* TestClock.adjust("30 seconds")
      expect((yield* alpha.cache.sessions()).map((s) => s.sessionId)).toEqual(["g1"])

      yield* TestClock.adjust("31 seconds")
      expect(yield* alpha.cache.sessions()).toEqual([])
      expect((yield* alpha.cache.computers).map((c) => c.name)).toEqual(["alpha"])
      yield* client.nextEvent("computer_removed", (d) => d.name === "ghost")
      expect((yield* alpha.cache.projects).map((p) => p.name)).toEqual(["termfleet"])

      yield* TestClock.adjust("5 minutes")
      expect(yield* alpha.cache.projects).toEqual([])
    }))

  it.scoped("5. client subscribes on alpha → alpha's heartbeat carries interestedIn → beta learns it at once", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const beta = yield* startDaemon("beta", Option.some(redis))
      const betaChanges = yield* beta.cache.subscribe

      yield* subscribedClient(alpha.wsUrl, "sessions")
      // No clock advance: the heartbeat goes out when interest changes, not at the next 20 s tick.
      yield* changeWhere(betaChanges, (c) =>
        c._tag === "ComputerUpdated" && c.computer.name === "alpha" && c.computer.interestedIn.includes("sessions"))
      const sealed = JSON.parse(Option.getOrThrow(yield* redis.get(keys.computer("alpha"))))
      const presence = Either.getOrThrow(verifyFields(TEST_FLEET_SECRET, keys.computer("alpha"), sealed))
      expect(JSON.parse(presence.body).interestedIn).toEqual(["sessions"])
    }))

  it.scoped("6. peer XADDs to alpha's stream → blocking XREAD wakes → alpha's cache has the session", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const changes = yield* alpha.cache.subscribe
      const pi = playedPeer(redis, peerComputer("pi"))
      const session = makeSession("pi", "p1", { command: "codex" })

      yield* pi.heartbeat(["alpha"])
      yield* pi.push("alpha", { _tag: "session_updated", session })
      yield* changeWhere(changes, sessionUpdated("p1"))

      expect(yield* alpha.cache.sessions("pi")).toEqual([session])
      expect((yield* alpha.cache.computers).map((c) => c.name)).toEqual(["alpha", "pi"])
    }))

  it.scoped("7. full round trip: alpha session change → Redis → beta's cache → beta's WebSocket client", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const beta = yield* startDaemon("beta", Option.some(redis))
      const { client } = yield* subscribedClient(beta.wsUrl, "sessions")

      const session = makeSession("alpha", "a1", { title: "build", command: "make watch" })
      yield* alpha.cache.upsertSession(session)
      const pushed = yield* client.nextEvent("session_updated", (s) => s.sessionId === "a1")
      expect(pushed.data).toEqual(session)
      expect(yield* beta.cache.sessions("alpha")).toEqual([session])

      yield* alpha.cache.removeSession(session)
      yield* client.nextEvent("session_removed", (r) => r.sessionId === "a1")
      expect(yield* beta.cache.sessions("alpha")).toEqual([])
    }))

  it.scoped("8. two clients subscribed → one change → both receive it", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const first = yield* subscribedClient(alpha.wsUrl, "sessions")
      const second = yield* subscribedClient(alpha.wsUrl, "sessions")

      yield* alpha.cache.upsertSession(makeSession("alpha", "s1"))
      expect(yield* first.client.next).toMatchObject({ event: "session_updated", data: { sessionId: "s1" } })
      expect(yield* second.client.next).toMatchObject({ event: "session_updated", data: { sessionId: "s1" } })
    }))

  it.scoped("9. client subscribed only to preparation → session update → it gets no session event", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const preparing = yield* subscribedClient(alpha.wsUrl, "preparation")
      const watching = yield* subscribedClient(alpha.wsUrl, "sessions")

      yield* alpha.cache.upsertSession(makeSession("alpha", "s1"))
      expect((yield* watching.client.next).event).toBe("session_updated")
      const projects = [{ computer: "alpha", path: "/p/x", name: "x" }]
      yield* alpha.cache.setProjects("alpha", projects)
      // Frames arrive in order: had the session event reached it, it would come first.
      expect(yield* preparing.client.next).toMatchObject({
        event: "projects_updated",
        data: { computer: "alpha", projects }
      })
    }))

  it.scoped("10. client dies without a close frame → removed → interest recomputed → others unaffected", () =>
    Effect.gen(function*() {
      const alpha = yield* startDaemon("alpha", Option.some(yield* makeMemoryRedis))
      const dying = yield* subscribedClient(alpha.wsUrl, "preparation")
      const living = yield* subscribedClient(alpha.wsUrl, "sessions")
      yield* interestBecomes(alpha.cache, ["preparation", "sessions"])

      yield* dying.client.terminate
      yield* interestBecomes(alpha.cache, ["sessions"])
      expect(yield* alpha.hub.clientCount).toBe(1)

      yield* alpha.cache.upsertSession(makeSession("alpha", "s1"))
      expect(yield* living.client.next).toMatchObject({ event: "session_updated", data: { sessionId: "s1" } })
    }))

  it.scoped("11. no echo: beta receives alpha's event and never pushes it on to gamma or back", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const beta = yield* startDaemon("beta", Option.some(redis))
      const gamma = yield* startDaemon("gamma", Option.some(redis))
      const onAlpha = yield* subscribedClient(alpha.wsUrl, "sessions")
      const onBeta = yield* subscribedClient(beta.wsUrl, "sessions")
      const onGamma = yield* subscribedClient(gamma.wsUrl, "sessions")

      yield* alpha.cache.upsertSession(makeSession("alpha", "a1"))
      yield* onBeta.client.nextEvent("session_updated", (s) => s.sessionId === "a1")
      yield* onGamma.client.nextEvent("session_updated", (s) => s.sessionId === "a1")
      // Beta pushes its changes in order, so once its own later session reaches
      // alpha and gamma, anything it would have echoed is in their streams too.
      yield* beta.cache.upsertSession(makeSession("beta", "b1"))
      yield* onAlpha.client.nextEvent("session_updated", (s) => s.sessionId === "b1")
      yield* onGamma.client.nextEvent("session_updated", (s) => s.sessionId === "b1")

      for (const name of ["alpha", "beta", "gamma"]) {
        for (const entry of yield* entriesOf(redis, keys.events(name))) {
          const opened = verifyFields(TEST_FLEET_SECRET, keys.events(name), entry.fields)
          expect(opened._tag).toBe("Right")
          if (opened._tag === "Right") {
            if (opened.right.body.includes("\"a1\"")) expect(opened.right.from).toBe("alpha")
            if (opened.right.body.includes("\"b1\"")) expect(opened.right.from).toBe("beta")
          }
        }
      }
      expect((yield* entriesOf(redis, keys.events("alpha"))).some((e) => e.fields["body"]?.includes("\"a1\""))).toBe(false)
    }))

  it.scoped("12. replay: entries written while beta was down are applied on restart, from its stored last id", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.heartbeat([])
      const firstRun = yield* Scope.make()
      const beta = yield* Scope.extend(startDaemon("beta", Option.some(redis)), firstRun)
      const changes = yield* Scope.extend(beta.cache.subscribe, firstRun)
      yield* redis.xadd(keys.events("beta"), sealFields(TEST_FLEET_SECRET, keys.events("beta"), "pi", "1-999", "{not json"), 100)
      yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "before") })
      yield* changeWhere(changes, sessionUpdated("before"))
      expect((yield* beta.stats.snapshot).decodeFailures).toBe(1)
      yield* Scope.close(firstRun, Exit.void)

      yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "while-away") })

      const restarted = yield* startDaemon("beta", Option.some(redis))
      const { client, initial } = yield* subscribedClient(restarted.wsUrl, "sessions")
      if (!initial.data.sessions.some((s: { sessionId: string }) => s.sessionId === "while-away")) {
        yield* client.nextEvent("session_updated", (s) => s.sessionId === "while-away")
      }
      // Entries are applied in order: had the reader started from "0" rather than
      // its stored id, the bad entry and "before" would have been applied first.
      expect((yield* restarted.cache.sessions("pi")).map((s) => s.sessionId)).toEqual(["while-away"])
      expect((yield* restarted.stats.snapshot).decodeFailures).toBe(0)
    }))

  it.scoped("13. projects and todos cross daemons: beta's preparation client gets alpha's, snapshot then changes", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const alpha = yield* startDaemon("alpha", Option.some(redis))
      const beta = yield* startDaemon("beta", Option.some(redis))
      const project = { computer: "alpha", path: "/src/termfleet", name: "termfleet" }
      yield* alpha.cache.setProjects("alpha", [project])

      const { client } = yield* subscribedClient(beta.wsUrl, "preparation")
      yield* client.nextEvent("projects_updated", (d) => d.computer === "alpha" && d.projects.length === 1)
      expect((yield* beta.cache.projects).filter((p) => p.computer === "alpha")).toEqual([project])

      const todo = { computer: "alpha", projectPath: project.path, slug: "ship-it", title: "ship it", status: "ready" as const }
      yield* alpha.cache.setTodos("alpha", [todo])
      const pushed = yield* client.nextEvent("todos_updated", (d) => d.computer === "alpha" && d.todos.length === 1)
      expect(pushed.data.todos).toEqual([todo])
    }))
})
