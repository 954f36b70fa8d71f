/**
 * Two daemons with the same `--computer`, as real processes on one real
 * Redis: the second refuses to start (exit 2, saying why and what to do)
 * while the first runs on untouched; one started with `--take-over` replaces
 * the first, which stops by itself (exit 2, saying it was taken over), and
 * the peer ends up with the new daemon's sessions only. Never two daemons
 * silently answering for one name, even when the second could not see the
 * first at its start: Redis had lost every key (FLUSHALL), or was down. The
 * two then meet within seconds; the second stops, the first runs on, and its
 * peer ends with the first's sessions, old and new.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { cleanEnv, fleetDaemonArgs, type FleetDaemon, requireBuild, runBinary, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { ownRedis } from "../support/OwnRedis.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { privateTmux } from "../support/TmuxServer.js"
import { subscribedClient } from "../support/WsClient.js"

beforeAll(requireBuild)
const redisUrl = useRedis()

/** Peers are looked up every 5 s; a run taken over notices at its next look. */
const DISCOVERY_MILLIS = 5_000
const SLACK_MILLIS = 5_000

const idsOn = (daemon: FleetDaemon, computer: string) =>
  Effect.map(daemon.request("GET", `/sessions?computer=${computer}`), (answer) =>
    Array.isArray(answer.body) ? answer.body.map((s: { sessionId: string }) => s.sessionId).sort() : [])

const create = (daemon: FleetDaemon, title: string) =>
  Effect.map(daemon.request("POST", "/sessions", { title, command: "sh" }), (answer) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(201)
    return answer.body.sessionId as string
  })

/** What a run refused as a twin of `first` says, naming it so it can be found. */
const inUse = (first: FleetDaemon) =>
  new RegExp(`computer name '${first.computer}' is in use by another daemon \\(started [^,]+, pid ${first.pid} on host [^,]+, version [^)]+\\); stop it or start this one with --take-over`)

/** alpha and beta, beta's client interested in sessions, one session of alpha's on beta. */
const fleetWithSession = (redisUrl: string, prefix: string) =>
  Effect.gen(function*() {
    const first = yield* spawnFleetDaemon({ computer: "alpha", redisUrl, prefix })
    const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl, prefix })
    yield* subscribedClient(beta.wsUrl, "sessions")
    const kept = yield* create(first, "first's")
    yield* pollUntil(idsOn(beta, "alpha"), (ids) => ids.includes(kept), "first's session on beta", 15_000)
    return { first, beta, kept }
  })

/** The first alpha still serves, was never told it was taken over, and beta takes its changes: a new session, and only its sessions. */
const firstRunsOn = (first: FleetDaemon, beta: FleetDaemon, kept: string) =>
  Effect.gen(function*() {
    expect((yield* first.request("GET", "/health")).status).toBe(200)
    expect(first.log()).not.toMatch(/taken over/)
    const fresh = yield* create(first, "after the twin")
    const expected = [kept, fresh].sort()
    yield* pollUntil(idsOn(beta, "alpha"), (ids) => JSON.stringify(ids) === JSON.stringify(expected), "beta to hold the first alpha's sessions", 20_000)
    expect((yield* first.request("GET", "/health")).status).toBe(200)
  })

/** Bounds a twin's life: it meets the first within two discoveries (5 s each) of seeing Redis, plus start-up. */
const TWIN_STOPS_MILLIS = 40_000

describe("two daemons with one computer name", () => {
  it.scopedLive("the second refuses to start (exit 2); with --take-over it replaces the first, which stops", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("twin")
      const first = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redisUrl(), prefix })
      // Sessions flow to a peer that has a client interested in them.
      yield* subscribedClient(beta.wsUrl, "sessions")
      const kept = yield* create(first, "first's")
      yield* pollUntil(idsOn(beta, "alpha"), (ids) => ids.includes(kept), "first's session on beta", 15_000)

      // Another alpha (its own state folder and tmux server, as on another machine): refused.
      const tmuxSocket = yield* privateTmux
      const stateDir = yield* tempDir("tf-twin")
      const twin = yield* runBinary(["daemon", ...fleetDaemonArgs({ computer: "alpha", redisUrl: redisUrl(), prefix }, { tmuxSocket, stateDir })])
      expect({ code: twin.code, signal: twin.signal }, `${twin.stdout}${twin.stderr}`).toEqual({ code: 2, signal: null })
      expect(twin.stderr).toMatch(inUse(first))
      expect(twin.stdout).not.toMatch(/dashboard:/)
      // The first runs on, still alpha for its peer.
      expect((yield* first.request("GET", "/health")).status).toBe(200)
      expect(yield* idsOn(beta, "alpha")).toEqual([kept])

      // Asked to, a new alpha takes the name over; the first stops by itself, saying why.
      const second = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redisUrl(), prefix, extraArgs: ["--take-over"] })
      const exited = yield* first.exited.pipe(Effect.timeoutFail({
        duration: DISCOVERY_MILLIS + SLACK_MILLIS,
        onTimeout: () => new Error(`the first alpha still runs after being taken over:\n${first.log()}`)
      }))
      expect({ code: exited.code, signal: exited.signal }, first.log()).toEqual({ code: 2, signal: null })
      expect(first.log()).toMatch(/computer 'alpha' was taken over by the daemon started .* \(--take-over\); this one stops/)
      expect(second.log()).toMatch(/taking computer 'alpha' over from the daemon started/)

      // The peer ends with the new alpha's sessions only, and alpha is still there for it.
      const fresh = yield* create(second, "second's")
      const onBeta = yield* pollUntil(idsOn(beta, "alpha"), (ids) => ids.length === 1 && ids[0] === fresh, "only the new alpha's session on beta", 15_000)
      expect(onBeta).toEqual([fresh])
      const names = yield* beta.request("GET", "/computers")
      expect(names.body.map((c: { name: string }) => c.name).sort()).toEqual(["alpha", "beta"])
    }), 90_000)

  it.scopedLive("Redis lost every key (FLUSHALL): a second run without --take-over stops (exit 2), the first runs on", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const prefix = uniquePrefix("twin-flushed")
      const { first, beta, kept } = yield* fleetWithSession(redis.url, prefix)
      yield* Effect.acquireUseRelease(
        Effect.sync(() => new Redis(redis.url)),
        (client) => Effect.promise(() => client.flushall()),
        (client) => Effect.sync(() => client.disconnect())
      )

      // Started at once, it finds no presence of alpha; whether it meets the first at start or later, it is the one to stop.
      const tmuxSocket = yield* privateTmux
      const stateDir = yield* tempDir("tf-twin")
      const twin = yield* runBinary(
        ["daemon", ...fleetDaemonArgs({ computer: "alpha", redisUrl: redis.url, prefix }, { tmuxSocket, stateDir })],
        cleanEnv(),
        TWIN_STOPS_MILLIS
      )
      expect({ code: twin.code, signal: twin.signal }, `${twin.stdout}${twin.stderr}`).toEqual({ code: 2, signal: null })
      expect(twin.stderr).toMatch(inUse(first))
      yield* firstRunsOn(first, beta, kept)
    }), 120_000)

  it.scopedLive("a second run without --take-over started while Redis is down stops (exit 2) once Redis is back; the first runs on", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const prefix = uniquePrefix("twin-offline")
      const { first, beta, kept } = yield* fleetWithSession(redis.url, prefix)

      yield* redis.kill
      const twin = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redis.url, prefix })
      yield* redis.start
      const exited = yield* twin.exited.pipe(Effect.timeoutFail({
        duration: TWIN_STOPS_MILLIS,
        onTimeout: () => new Error(`the second alpha still runs once Redis is back:\n${twin.log()}\nthe first:\n${first.log()}`)
      }))
      expect({ code: exited.code, signal: exited.signal }, twin.log()).toEqual({ code: 2, signal: null })
      expect(twin.log()).toMatch(inUse(first))
      yield* firstRunsOn(first, beta, kept)
    }), 120_000)
})
