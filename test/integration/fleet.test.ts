/**
 * Two daemons, one real Redis (a redis-server started for this file), real
 * tmux and real sockets: a user drives a session of one computer through
 * the API of the other, and both daemons' WebSocket clients see every step.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Scope } from "effect"
import { Redis } from "ioredis"
import { makeIoRedisClient, RedisError, type RedisClientService } from "../../src/fleet/RedisClient.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { sealFields } from "../../src/fleet/Seal.js"
import { startDaemon, TEST_FLEET_SECRET, type TestDaemon } from "../support/TestDaemon.js"
import { privateTmux } from "../support/TmuxServer.js"
import { subscribedClient } from "../support/WsClient.js"

const redisUrl = useRedis()

const fleetDaemon = (computer: string, prefix: string, tmuxSocket?: string) =>
  Effect.gen(function*() {
    const redis = yield* makeIoRedisClient(redisUrl())
    return yield* startDaemon(computer, Option.some(redis), { prefix, ...(tmuxSocket ? { tmuxSocket } : {}) })
  })

const request = (daemon: TestDaemon, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method,
      headers: { ...daemon.authHeaders, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text.length > 0 ? JSON.parse(text) : null }
  })


describe("fleet over Redis with real tmux", () => {
  it.scopedLive("create on alpha through beta's API, type into it, read it, end it; both dashboards see each step", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("fleet")
      const alpha = yield* fleetDaemon("alpha", prefix)
      const beta = yield* fleetDaemon("beta", prefix)
      const onAlpha = (yield* subscribedClient(alpha.wsUrl, "sessions")).client
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client

      const created = yield* request(beta, "POST", "/sessions", { computer: "alpha", title: "agent", command: "sh" })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({ computer: "alpha", title: "agent", command: "sh", status: "running" })
      const id: string = created.body.sessionId
      for (const client of [onAlpha, onBeta]) yield* client.nextEvent("session_updated", (s) => s.sessionId === id)

      const typed = yield* request(beta, "POST", `/sessions/${id}/input`, { text: "echo hello-$((6*7))" })
      expect(typed.status).toBe(200)
      expect(typed.body.lastInput).toBe("echo hello-$((6*7))")
      for (const client of [onAlpha, onBeta]) {
        yield* client.nextEvent("session_updated", (s) => s.sessionId === id && s.lastOutput.includes("hello-42"))
      }
      const output = yield* request(beta, "GET", `/sessions/${id}/output`)
      expect(output.status).toBe(200)
      expect(output.body.computer).toBe("alpha")
      expect(output.body.output).toContain("hello-42")

      const ended = yield* request(beta, "DELETE", `/sessions/${id}`)
      expect(ended.status).toBe(204)
      for (const client of [onAlpha, onBeta]) yield* client.nextEvent("session_removed", (r) => r.sessionId === id)
      expect((yield* request(alpha, "GET", "/sessions")).body).toEqual([])
    }))

  it.scopedLive("a daemon restarted on the same tmux server finds its sessions and their metadata again", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("restart")
      const socket = yield* privateTmux
      const firstRun = yield* Scope.make()
      const alpha = yield* Scope.extend(fleetDaemon("alpha", prefix, socket), firstRun)
      const created = yield* request(alpha, "POST", "/sessions", { title: "long build", projectPath: "/tmp", command: "sh" })
      expect(created.status).toBe(201)
      const typed = yield* request(alpha, "POST", `/sessions/${created.body.sessionId}/input`, { text: "echo still-here" })
      yield* Scope.close(firstRun, Exit.void)

      const again = yield* fleetDaemon("alpha", prefix, socket)
      const sessions = (yield* request(again, "GET", "/sessions")).body
      expect(sessions).toHaveLength(1)
      expect(sessions[0]).toMatchObject({
        sessionId: created.body.sessionId,
        title: "long build",
        projectPath: "/tmp",
        command: "sh",
        createdAt: created.body.createdAt,
        lastInput: typed.body.lastInput
      })
    }))

  it.scopedLive("bad input is a clear 4xx, never a 500", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("bad")
      const alpha = yield* fleetDaemon("alpha", prefix)
      const created = yield* request(alpha, "POST", "/sessions", { title: "t", command: "sh" })
      const id = created.body.sessionId

      const cases: ReadonlyArray<readonly [string, string, unknown, number]> = [
        ["POST", "/sessions/nope/input", { text: "ls" }, 404],
        ["DELETE", "/sessions/nope", undefined, 404],
        ["GET", "/sessions/nope/output", undefined, 404],
        ["POST", `/sessions/${id}/input`, { text: "" }, 400],
        ["POST", `/sessions/${id}/input`, { txt: "ls" }, 400],
        ["POST", `/sessions/${id}/input`, "{not json", 400],
        ["POST", `/sessions/${id}/input`, { text: "x".repeat(20_000) }, 400],
        ["POST", "/sessions", { computer: "nowhere", command: "sh" }, 404],
        ["POST", "/sessions", { computer: "bad name!" }, 400],
        ["POST", "/sessions", { projectPath: "relative/path" }, 400],
        ["POST", "/sessions", { title: "x".repeat(5000) }, 400],
        ["GET", `/sessions/${id}/output?lines=0`, undefined, 400]
      ]
      for (const [method, path, body, status] of cases) {
        const response = yield* request(alpha, method, path, body)
        expect({ method, path, status: response.status }).toEqual({ method, path, status })
        expect({ path, body: response.body }).toMatchObject({ path, body: { message: expect.any(String) } })
      }
      const huge = yield* request(alpha, "POST", `/sessions/${id}/input`, { text: "x".repeat(400_000) })
      expect(huge.status).toBeGreaterThanOrEqual(400)
      expect(huge.status).toBeLessThan(500)
    }))

  it.scopedLive("a peer that is online but does not answer gets a 504; one with a forged presence is unknown", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("mute")
      const redis = yield* makeIoRedisClient(redisUrl())
      const presence = (name: string, secret: string) => {
        const computer = { name, version: "0.1.0", startedAt: 0, lastSeen: 0, interestedIn: [] }
        const where = `${prefix}computer:${name}`
        return Effect.zipRight(
          redis.set(where, JSON.stringify(sealFields(secret, where, name, "1-1", JSON.stringify(computer))), 60_000),
          redis.zadd(`${prefix}computers`, 0, name)
        )
      }
      yield* presence("mute", TEST_FLEET_SECRET)
      yield* presence("forged", "not-the-fleet-secret-at-all")
      const alpha = yield* fleetDaemon("alpha", prefix)
      expect((yield* request(alpha, "GET", "/computers")).body.map((c: { name: string }) => c.name).sort()).toEqual(["alpha", "mute"])

      const response = yield* request(alpha, "POST", "/sessions", { computer: "mute", command: "sh" })
      expect(response.status).toBe(504)
      expect(response.body.message).toContain("mute did not answer")
      const forged = yield* request(alpha, "POST", "/sessions", { computer: "forged", command: "sh" })
      expect(forged.status).toBe(404)
    }))

  it.scopedLive("a reply whose write fails is written again, and the other replies of its batch still go out", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("reply-fails")
      const real = yield* makeIoRedisClient(redisUrl())
      // alpha's first reply write fails, as on a full Redis.
      let injected = false
      const flaky: RedisClientService = {
        ...real,
        xadd: (key, fields, maxLen, ttlMillis) =>
          Effect.suspend(() =>
            key.includes(":repl") && !injected
              ? Effect.sync(() => void (injected = true)).pipe(Effect.zipRight(Effect.fail(new RedisError({ command: "XADD", message: "OOM command not allowed (injected)" }))))
              : real.xadd(key, fields, maxLen, ttlMillis))
      }
      yield* startDaemon("alpha", Option.some(flaky), { prefix })
      const beta = yield* fleetDaemon("beta", prefix)

      const created = yield* Effect.forEach(
        [1, 2, 3, 4],
        (n) => request(beta, "POST", "/sessions", { computer: "alpha", title: `batch-${n}`, command: "sh" }),
        { concurrency: "unbounded" }
      )
      expect(created.map((answer) => answer.status), JSON.stringify(created.map((a) => a.body))).toEqual([201, 201, 201, 201])
      expect(injected, "the failure was injected").toBe(true)
    }))

  it.scopedLive("16 remote requests at once share the daemon's connections: Redis accepts no new one", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("one-reader")
      yield* fleetDaemon("alpha", prefix)
      const beta = yield* fleetDaemon("beta", prefix)
      // A dashboard on beta: it wants alpha's sessions.
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
      const created = yield* request(beta, "POST", "/sessions", { computer: "alpha", title: "shared", command: "sh" })
      expect(created.status).toBe(201)
      const id: string = created.body.sessionId
      yield* onBeta.nextEvent("session_updated", (s) => s.sessionId === id)

      const admin = yield* Effect.acquireRelease(Effect.sync(() => new Redis(redisUrl())), (r) => Effect.sync(() => r.disconnect()))
      const clients = Effect.promise(async () => String(await admin.client("LIST")).trim().split("\n").length)
      const accepted = Effect.promise(async () => Number(/total_connections_received:(\d+)/.exec(await admin.info("stats"))?.[1]))
      const before = { clients: yield* clients, accepted: yield* accepted }
      let most = before.clients
      const sampler = yield* Effect.fork(Effect.forever(Effect.map(clients, (n) => void (most = Math.max(most, n)))))
      const outputs = yield* Effect.forEach(
        Array.from({ length: 16 }, () => request(beta, "GET", `/sessions/${id}/output`)),
        (answer) => answer,
        { concurrency: "unbounded" }
      )
      yield* Fiber.interrupt(sampler)
      expect(outputs.map((answer) => answer.status)).toEqual(Array.from({ length: 16 }, () => 200))
      expect({ clients: most, accepted: yield* accepted }).toEqual(before)
    }))
})
