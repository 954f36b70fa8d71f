/**
 * Someone with write access to Redis but without the fleet secret must not
 * be able to drive a daemon: forged, unsigned, tampered, moved and replayed
 * entries of its event stream and of its request stream are dropped and
 * counted (`decodeFailures` in /health), and genuine entries after them are
 * still applied.
 *
 * Daemons are in-process (`startDaemon`) on the in-memory Redis; the attacker
 * and the honest peer are played by the test, writing entries as
 * `EventStream.push` and `Requests.call` do (`sealFields`, `redisKeys`).
 */
import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { encodePeerEvent, type PeerEvent } from "../../src/fleet/PeerEvent.js"
import { encodeRequest, type PeerRequest } from "../../src/domain/PeerRequest.js"
import type { RedisClientService } from "../../src/fleet/RedisClient.js"
import { makeMemoryRedis } from "../../src/fleet/RedisMemory.js"
import { sealFields } from "../../src/fleet/Seal.js"
import { makeSession, peerComputer } from "../support/fixtures.js"
import { pollUntil } from "../support/Poll.js"
import { raw } from "../support/RawHttp.js"
import { tempDir } from "../support/TempDir.js"
import { changeWhere, entriesOf, playedPeer, repliesTo, sessionRemoved, sessionUpdated } from "../support/PlayedPeer.js"
import { startDaemon, TEST_FLEET_SECRET, TEST_KEYS as keys, type TestDaemon } from "../support/TestDaemon.js"
import { privateTmux, tmuxCli } from "../support/TmuxServer.js"

const WRONG_SECRET = "not-the-fleet-secret-0123456789"

/** Once a replayed request was either dropped (counted) or, wrongly, answered a second time: which. */
const replayOutcome = (daemon: TestDaemon, redis: RedisClientService, requestId: string) =>
  pollUntil(
    Effect.all({
      decodeFailures: Effect.map(daemon.stats.snapshot, (s) => s.decodeFailures),
      replies: Effect.map(repliesTo(redis, "alpha", requestId), (replies) => replies.length)
    }),
    (o) => o.decodeFailures >= 1 || o.replies >= 2,
    "the replay dropped or answered"
  )

/** Copies an entry as it is into another stream (or the same one again). */
const copyEntry = (redis: RedisClientService, fields: Readonly<Record<string, string>>, to: string) =>
  redis.xadd(to, fields, 10_000)

const health = (daemon: TestDaemon) => Effect.map(raw(daemon.httpUrl("/health"), { headers: daemon.authHeaders }), (r) => r.json)

const sessionIds = (daemon: TestDaemon, computer?: string) =>
  Effect.map(daemon.cache.sessions(computer), (sessions) => sessions.map((s) => s.sessionId).sort())

describe("forged and replayed event-stream entries", () => {
  it.scoped("wrong secret, unsigned, tampered, moved, impersonating and replayed entries are dropped and counted; a valid one after them is applied", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.presence
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      const to = keys.events("beta")
      const event = (sessionId: string, computer = "pi"): PeerEvent => ({
        _tag: "session_updated",
        session: makeSession(computer, sessionId)
      })

      // A genuine session, then its genuine removal: replaying the first must not bring it back.
      const victimEntry = yield* pi.push("beta", event("victim"))
      yield* changeWhere(changes, sessionUpdated("victim"))
      yield* pi.push("beta", { _tag: "session_removed", ref: { sessionId: "victim", computer: "pi" } })
      yield* changeWhere(changes, sessionRemoved("victim"))
      expect((yield* beta.stats.snapshot).decodeFailures).toBe(0)

      const genuine = pi.sealed(to, encodePeerEvent(event("tampered")))
      // Genuine, but sealed for alpha's stream: written there, then moved into beta's.
      const forAlpha = pi.sealed(keys.events("alpha"), encodePeerEvent(event("moved")))
      yield* redis.xadd(keys.events("alpha"), forAlpha, 10_000)
      const [movedEntry] = yield* entriesOf(redis, keys.events("alpha"))
      const bad: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["sealed with a wrong secret", sealFields(WRONG_SECRET, to, "pi", "1-100", encodePeerEvent(event("wrong-secret")))],
        ["unsigned (body only)", { body: encodePeerEvent(event("unsigned")) }],
        ["unsigned (no sig)", { from: "pi", seq: "1-101", body: encodePeerEvent(event("no-sig")) }],
        ["a garbage signature", { ...genuine, sig: "00".repeat(32), body: encodePeerEvent(event("garbage-sig")) }],
        ["a genuine seal over another body", { ...genuine, body: encodePeerEvent(event("swapped-body")) }],
        ["a genuine seal claiming another sender", { ...genuine, from: "alpha" }],
        ["a genuine entry moved from alpha's stream", { ...movedEntry!.fields }],
        // Sealed by pi with the right secret, but speaking for beta's own sessions.
        ["a peer speaking for another computer", pi.sealed(to, encodePeerEvent(event("impersonated", "beta")))],
        ["a replay of a genuine entry already applied", victimEntry]
      ]
      for (const [, fields] of bad) yield* copyEntry(redis, fields, to)
      yield* pi.push("beta", event("after"))
      yield* changeWhere(changes, sessionUpdated("after"))

      // Entries are handled in order, so every bad one was handled before "after".
      expect(yield* sessionIds(beta, "pi")).toEqual(["after"])
      expect(yield* sessionIds(beta, "beta")).toEqual([])
      const counters = yield* beta.stats.snapshot
      expect({ decodeFailures: counters.decodeFailures, of: bad.map(([what]) => what) })
        .toEqual({ decodeFailures: bad.length, of: bad.map(([what]) => what) })
      expect(yield* health(beta)).toMatchObject({ decodeFailures: bad.length })
    }))

  // A daemon restarted on the same stream (and state folder) must still not
  // apply again an entry it applied before its restart.
  it.scoped("a genuine entry replayed after the receiving daemon restarts is not applied again", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.presence
      // A restarted daemon keeps its state folder, where the replay windows are saved.
      const stateDir = yield* tempDir("tf-sec-state")
      const firstRun = yield* Scope.make()
      const beta = yield* Scope.extend(startDaemon("beta", Option.some(redis), { stateDir }), firstRun)
      const changes = yield* Scope.extend(beta.cache.subscribe, firstRun)
      const victimEntry = yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "victim") })
      yield* changeWhere(changes, sessionUpdated("victim"))
      yield* pi.push("beta", { _tag: "session_removed", ref: { sessionId: "victim", computer: "pi" } })
      yield* changeWhere(changes, sessionRemoved("victim"))
      yield* Scope.close(firstRun, Exit.void)

      const restarted = yield* startDaemon("beta", Option.some(redis), { stateDir })
      const again = yield* restarted.cache.subscribe
      yield* copyEntry(redis, victimEntry, keys.events("beta"))
      yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "after") })
      yield* changeWhere(again, sessionUpdated("after"))
      expect(yield* sessionIds(restarted, "pi")).toEqual(["after"])
      expect((yield* restarted.stats.snapshot).decodeFailures).toBe(1)
    }))
})

describe("a computer whose clock went back", () => {
  /** The epoch part of the sequence of `name`'s sealed presence. */
  const presenceEpoch = (redis: RedisClientService, name: string) =>
    Effect.map(redis.get(keys.computer(name)), (value) =>
      Number(JSON.parse(Option.getOrThrow(value)).seq.split("-")[0]))

  it.scoped("numbers its entries above its last run's, so peers still take them", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const stateDir = yield* tempDir("tf-sec-epoch")
      const firstRun = yield* Scope.make()
      yield* Scope.extend(startDaemon("alpha", Option.some(redis), { stateDir }), firstRun)
      const before = yield* presenceEpoch(redis, "alpha")
      yield* Scope.close(firstRun, Exit.void)

      vi.useFakeTimers({ toFake: ["Date"] })
      yield* Effect.addFinalizer(() => Effect.sync(() => vi.useRealTimers()))
      vi.setSystemTime(before - 3_600_000)
      yield* startDaemon("alpha", Option.some(redis), { stateDir })
      expect(yield* presenceEpoch(redis, "alpha")).toBeGreaterThan(before)
    }))
})

describe("a garbled read cursor", () => {
  it.scoped("does not stop the daemon reading its stream", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      yield* redis.set(keys.cursor("beta"), "not-an-id; FLUSHALL")
      const pi = playedPeer(redis, peerComputer("pi"))
      yield* pi.presence
      const beta = yield* startDaemon("beta", Option.some(redis))
      const changes = yield* beta.cache.subscribe
      yield* pi.push("beta", { _tag: "session_updated", session: makeSession("pi", "read-anyway") })
      yield* changeWhere(changes, sessionUpdated("read-anyway"))
      expect(yield* sessionIds(beta, "pi")).toEqual(["read-anyway"])
    }))
})

describe("forged and replayed request-stream entries", () => {
  const requestBody = (id: string, deadline: number, request: PeerRequest) => encodeRequest({ id, deadline, request })
  const REQUEST_DEADLINE = Date.now() + 60_000
  let requestSeq = 0
  /** A request to `to` sealed as alpha would seal it, each with a fresh sequence. */
  const genuine = (id: string, request: PeerRequest, to = keys.requests("beta")) =>
    sealFields(TEST_FLEET_SECRET, to, "alpha", `1-${++requestSeq}`, requestBody(id, REQUEST_DEADLINE, request))
  const create = (title: string): PeerRequest => ({ _tag: "create", title, command: "cat" })

  /** Waits for the reply to request `id` (written to alpha's reply stream by the daemon, sealed by it). */
  const awaitReply = (redis: RedisClientService, id: string) =>
    Effect.gen(function*() {
      const [answer] = yield* pollUntil(repliesTo(redis, "alpha", id), (replies) => replies.length > 0, `a reply to ${id}`, 10_000, 20)
      expect(answer!.from).toBe("beta")
      return answer!.reply
    })

  const tmuxNames = (socket: string) =>
    tmuxCli(socket, "list-sessions", "-F", "#{session_name}").pipe(
      Effect.map((out) => out.split("\n").filter((line) => line !== "").sort()),
      Effect.catchAll(() => Effect.succeed<ReadonlyArray<string>>([]))
    )

  it.scopedLive("a create sealed with a wrong secret, unsigned or moved creates nothing; a replayed genuine create runs once", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const beta = yield* startDaemon("beta", Option.some(redis))
      const to = keys.requests("beta")

      const first = genuine("aaaa0001", create("genuine"))
      yield* redis.xadd(to, first, 1_000)
      const reply = yield* awaitReply(redis, "aaaa0001")
      expect(reply).toEqual(expect.objectContaining({ _tag: "session", session: expect.objectContaining({ title: "genuine" }) }))

      const forGamma = genuine("bbbb0004", create("moved"), keys.requests("gamma"))
      yield* redis.xadd(keys.requests("gamma"), forGamma, 1_000)
      const [moved] = yield* entriesOf(redis, keys.requests("gamma"))
      const bad: ReadonlyArray<readonly [string, string, Record<string, string>]> = [
        ["sealed with a wrong secret", "bbbb0001",
          sealFields(WRONG_SECRET, to, "alpha", "1-100", requestBody("bbbb0001", REQUEST_DEADLINE, create("wrong-secret")))],
        ["unsigned", "bbbb0002", { body: requestBody("bbbb0002", REQUEST_DEADLINE, create("unsigned")) }],
        ["a genuine seal over another body", "bbbb0003",
          { ...genuine("bbbb0099", create("sealed")), body: requestBody("bbbb0003", REQUEST_DEADLINE, create("swapped")) }],
        ["a genuine request moved from gamma's stream", "bbbb0004", { ...moved!.fields }],
        ["a replay of a genuine request already executed", "aaaa0001", first]
      ]
      for (const [, , fields] of bad) yield* copyEntry(redis, fields, to)

      // A genuine request after them is still executed.
      yield* redis.xadd(to, genuine("aaaa0002", create("after")), 1_000)
      expect((yield* awaitReply(redis, "aaaa0002"))._tag).toBe("session")

      // Requests of one batch run side by side: wait until each bad one is counted.
      yield* pollUntil(
        Effect.map(beta.stats.snapshot, (s) => s.decodeFailures),
        (n) => n >= bad.length,
        `${bad.length} decode failures (${bad.map(([what]) => what).join("; ")})`
      )
      expect((yield* beta.stats.snapshot).decodeFailures).toBe(bad.length)
      expect(yield* tmuxNames(beta.settings.tmuxSocket)).toEqual(["after", "genuine"])
      const titles = (yield* beta.cache.sessions("beta")).map((s) => s.title).sort()
      expect(titles).toEqual(["after", "genuine"])
      // Nothing answered the dropped ones, and the replay got no second answer.
      for (const [what, id] of bad) {
        expect({ what, replies: (yield* repliesTo(redis, "alpha", id)).length }).toEqual({ what, replies: id === "aaaa0001" ? 1 : 0 })
      }
    }))

  it.scopedLive("a genuine create whose requester gave up long ago is not run", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const beta = yield* startDaemon("beta", Option.some(redis))
      const to = keys.requests("beta")
      // Its requester stopped waiting 6 s ago, as when the peer was down for a while.
      const stale = sealFields(TEST_FLEET_SECRET, to, "alpha", `1-${++requestSeq}`, requestBody("eeee0001", Date.now() - 6_000, create("late")))
      yield* redis.xadd(to, stale, 1_000)
      yield* redis.xadd(to, genuine("eeee0002", create("fresh")), 1_000)
      yield* awaitReply(redis, "eeee0002")
      expect(yield* tmuxNames(beta.settings.tmuxSocket)).toEqual(["fresh"])
      expect(yield* repliesTo(redis, "alpha", "eeee0001")).toEqual([])
    }))

  it.scopedLive("a replayed genuine input request is typed once", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const beta = yield* startDaemon("beta", Option.some(redis))
      const to = keys.requests("beta")

      yield* redis.xadd(to, genuine("cccc0001", create("typed")), 1_000)
      const created = yield* awaitReply(redis, "cccc0001")
      if (created._tag !== "session") return expect.fail(`create failed: ${JSON.stringify(created)}`)
      const sessionId = created.session.sessionId
      const input = genuine("cccc0002", { _tag: "input", sessionId, text: "once-marker" })
      yield* redis.xadd(to, input, 1_000)
      yield* awaitReply(redis, "cccc0002")
      yield* copyEntry(redis, input, to)
      expect(yield* replayOutcome(beta, redis, "cccc0002")).toEqual({ decodeFailures: 1, replies: 1 })

      // cat echoes each line typed twice (the terminal's echo, then cat's).
      const screen = tmuxCli(beta.settings.tmuxSocket, "capture-pane", "-p", "-t", "typed")
      const text = yield* pollUntil(screen, (t) => t.split("once-marker").length - 1 >= 2, "the input echoed")
      expect(text.split("once-marker").length - 1).toBe(2)
    }))

  // Within its deadline (plus the 5 s allowed for clock skew) a request is
  // fresh: a replay right after the daemon restarts must still be refused.
  it.scopedLive("a genuine input request replayed after the receiving daemon restarts is not typed again", () =>
    Effect.gen(function*() {
      const redis = yield* makeMemoryRedis
      const tmuxSocket = yield* privateTmux
      const to = keys.requests("beta")

      const stateDir = yield* tempDir("tf-sec-state")
      const firstRun = yield* Scope.make()
      yield* Scope.extend(startDaemon("beta", Option.some(redis), { tmuxSocket, stateDir }), firstRun)
      yield* redis.xadd(to, genuine("dddd0001", create("typed")), 1_000)
      const created = yield* awaitReply(redis, "dddd0001")
      if (created._tag !== "session") return expect.fail(`create failed: ${JSON.stringify(created)}`)
      const input = genuine("dddd0002", { _tag: "input", sessionId: created.session.sessionId, text: "once-marker" })
      yield* redis.xadd(to, input, 1_000)
      yield* awaitReply(redis, "dddd0002")
      yield* Scope.close(firstRun, Exit.void)

      const restarted = yield* startDaemon("beta", Option.some(redis), { tmuxSocket, stateDir })
      yield* copyEntry(redis, input, to)
      expect(yield* replayOutcome(restarted, redis, "dddd0002")).toEqual({ decodeFailures: 1, replies: 1 })
    }))
})
