/** The cache on its own, on the `TestClock`: what it forgets, and when. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Queue, Scope, TestClock } from "effect"
import { makeSessionCache } from "../../src/cache/SessionCache.js"
import { makeSession, peerComputer } from "../support/fixtures.js"

describe("SessionCache", () => {
  it.scoped("sessions of a computer it does not know are never served, and forgotten after a TTL", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      yield* cache.upsertComputer(peerComputer("pi"))
      yield* cache.removeComputer("pi")
      // An event that came after pi's goodbye.
      yield* cache.upsertSession(makeSession("pi", "late"))
      expect(yield* cache.sessions()).toEqual([])

      yield* TestClock.adjust("62 seconds")
      // pi comes back much later (a new run): the late session is not brought back with it.
      const again = { ...peerComputer("pi"), startedAt: 2, lastSeen: 2 }
      yield* cache.upsertComputer(again)
      expect((yield* cache.computers).map((c) => c.name)).toEqual(["alpha", "pi"])
      expect(yield* cache.sessions("pi")).toEqual([])
    }))

  it.scoped("a run that said goodbye is not taken back by a presence of it read later; a new run is", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      const pi = peerComputer("pi")
      yield* cache.upsertComputer(pi)
      yield* cache.removeComputer("pi")
      // Its presence, read by a lookup that raced its goodbye.
      yield* cache.upsertComputer({ ...pi, lastSeen: pi.lastSeen + 1 })
      expect((yield* cache.computers).map((c) => c.name)).toEqual(["alpha"])

      yield* cache.upsertComputer({ ...pi, startedAt: pi.startedAt + 1, lastSeen: pi.lastSeen + 2 })
      expect((yield* cache.computers).map((c) => c.name)).toEqual(["alpha", "pi"])
    }))

  it.scoped("a session that arrives just before its computer is known is kept", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      yield* cache.upsertSession(makeSession("pi", "early"))
      yield* TestClock.adjust("5 seconds")
      yield* cache.upsertComputer(peerComputer("pi"))
      expect((yield* cache.sessions("pi")).map((s) => s.sessionId)).toEqual(["early"])
      // Well past a TTL since the session came, pi heartbeating all along.
      yield* TestClock.adjust("40 seconds")
      yield* cache.upsertComputer({ ...peerComputer("pi"), lastSeen: 2 })
      yield* TestClock.adjust("40 seconds")
      expect((yield* cache.sessions("pi")).map((s) => s.sessionId)).toEqual(["early"])
    }))

  it.scoped("a subscriber gets, in order, only the changes it wants; one whose scope closed gets none", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      const all = yield* cache.subscribe
      const computers = yield* cache.subscribeTo((change) => change._tag === "ComputerUpdated")
      const closed = yield* Scope.make()
      const gone = yield* Scope.extend(cache.subscribeTo(() => true), closed)
      yield* Scope.close(closed, Exit.void)
      yield* cache.upsertSession(makeSession("alpha", "one"))
      yield* cache.upsertComputer(peerComputer("pi"))
      yield* cache.upsertSession(makeSession("alpha", "two"))
      yield* cache.upsertComputer(peerComputer("rho"))
      expect(Chunk.toArray(yield* Queue.takeAll(all)).map((c) => c._tag))
        .toEqual(["SessionUpdated", "ComputerUpdated", "SessionUpdated", "ComputerUpdated"])
      expect(Chunk.toArray(yield* Queue.takeAll(computers)).map((c) => c._tag === "ComputerUpdated" && c.computer.name))
        .toEqual(["pi", "rho"])
      expect(yield* Queue.isShutdown(gone)).toBe(true)
    }))

  it.scoped("a listener is called with each change as it is published, in order, until its scope closes", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      const heard: Array<string> = []
      const scope = yield* Scope.make()
      yield* Scope.extend(cache.listen((change) => heard.push(change._tag)), scope)
      cache.unsafeUpsertSession(makeSession("alpha", "one"))
      // Synchronously: the change is heard before the call that published it returns.
      expect(heard).toEqual(["SessionUpdated"])
      yield* cache.upsertComputer(peerComputer("pi"))
      yield* cache.removeSession({ computer: "alpha", sessionId: "one" })
      expect(heard).toEqual(["SessionUpdated", "ComputerUpdated", "SessionRemoved"])
      yield* Scope.close(scope, Exit.void)
      yield* cache.upsertSession(makeSession("alpha", "two"))
      expect(heard).toHaveLength(3)
    }))

  it.scoped("atomically reads the contents of one instant, live ones only", () =>
    Effect.gen(function*() {
      const cache = yield* makeSessionCache("alpha", "0.1.0")
      yield* cache.upsertComputer(peerComputer("pi"))
      yield* cache.upsertSession(makeSession("pi", "one"))
      yield* cache.upsertSession(makeSession("alpha", "two"))
      const view = yield* cache.atomically((view) => ({
        revision: view.revision,
        computers: view.computers().map((c) => c.name),
        sessions: view.sessions().map((s) => s.sessionId)
      }))
      expect(view).toEqual({ revision: yield* cache.revision, computers: ["alpha", "pi"], sessions: ["one", "two"] })
      yield* TestClock.adjust("61 seconds")
      expect(yield* cache.atomically((view) => view.sessions().map((s) => s.sessionId))).toEqual(["two"])
    }))
})
