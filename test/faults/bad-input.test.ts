/**
 * Bad input anywhere is refused with a reason, and nothing else breaks:
 * - WebSocket: a frame that is not JSON or not a known message gets an
 *   `error` event and the connection stays usable; a frame over 64 KiB
 *   closes that connection alone with 1009;
 * - Redis streams: malformed, unsigned, wrongly signed, moved, foreign and
 *   replayed entries written straight into a daemon's streams are skipped and
 *   counted in /health decodeFailures, and a valid entry after them is
 *   still applied;
 * - HTTP: invalid bodies are a 4xx with a message, never a 500.
 *
 * In-process daemons from the production Layer graph on real sockets; the
 * stream test runs on a real redis-server started for this file.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { randomBytes } from "node:crypto"
import { encodePeerEvent, type PeerEvent } from "../../src/fleet/PeerEvent.js"
import { encodeRequest } from "../../src/domain/PeerRequest.js"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { sealFields } from "../../src/fleet/Seal.js"
import { pollUntil } from "../support/Poll.js"
import { makeSession, peerComputer } from "../support/fixtures.js"
import { playedPeer, repliesTo } from "../support/PlayedPeer.js"
import { type WsClient, subscribedClient } from "../support/WsClient.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startDaemon, TEST_FLEET_SECRET, type TestDaemon } from "../support/TestDaemon.js"

const redisUrl = useRedis()

const health = (daemon: TestDaemon) =>
  Effect.promise(() => fetch(daemon.httpUrl("/health"), { headers: daemon.authHeaders }).then((r) => r.json() as Promise<any>))

const pingPong = (client: WsClient, what: string) =>
  Effect.gen(function*() {
    const mark = client.frames.length
    yield* client.send({ type: "ping" })
    const pong = yield* client.waitFor(`pong after ${what}`, (f) => f.event === "pong", 5_000, mark)
    expect(pong).toEqual({ event: "pong", data: null })
  })

describe("bad input over WebSocket", () => {
  it.scopedLive("non-JSON and unknown messages get an error with a reason and the connection stays usable; an oversize frame closes it alone with 1009", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const bystander = (yield* subscribedClient(daemon.wsUrl, "sessions")).client
      const client = (yield* subscribedClient(daemon.wsUrl, "sessions")).client

      const cases: ReadonlyArray<readonly [string, string | Buffer, "invalid_json" | "unknown_message"]> = [
        ["broken JSON", "{nope", "invalid_json"],
        ["an empty frame", "", "invalid_json"],
        ["plain text", "subscribe sessions", "invalid_json"],
        ["binary garbage", Buffer.from([0xff, 0xfe, 0x00, 0x9f]), "invalid_json"],
        ["a JSON array", "[]", "unknown_message"],
        ["JSON null", "null", "unknown_message"],
        ["a JSON number", "42", "unknown_message"],
        ["a JSON string", '"ping"', "unknown_message"],
        ["an unknown type", '{"type":"dance"}', "unknown_message"],
        ["an unknown topic", '{"type":"subscribe","topic":"everything"}', "unknown_message"],
        ["a subscribe without topic", '{"type":"subscribe"}', "unknown_message"],
        ["a topic without type", '{"topic":"sessions"}', "unknown_message"],
        ["a type of the wrong kind", '{"type":["ping"]}', "unknown_message"]
      ]
      for (const [what, frame, code] of cases) {
        const mark = client.frames.length
        yield* client.sendRaw(frame)
        const error = yield* client.waitFor(`an error for ${what}`, (f) => f.event === "error", 5_000, mark)
        expect({ what, error }).toEqual({ what, error: { event: "error", data: { code, message: expect.stringMatching(/\S/) } } })
        yield* pingPong(client, what)
      }

      // Still subscribed: events reach both clients.
      let mark = client.frames.length
      yield* daemon.cache.upsertSession(makeSession("solo", "s1", { title: "after bad frames" }))
      for (const c of [client, bystander]) {
        yield* c.waitFor("session_updated after bad frames", (f) => f.event === "session_updated" && f.data.sessionId === "s1", 5_000, c === client ? mark : 0)
      }

      // A frame of exactly the limit is read; one byte more closes the connection with 1009.
      const limit = daemon.settings.limits.maxFrameBytes
      const padded = (bytes: number) => {
        const head = '{"type":"ping","pad":"'
        const tail = '"}'
        return head + "x".repeat(bytes - head.length - tail.length) + tail
      }
      expect(Buffer.byteLength(padded(limit))).toBe(limit)
      yield* client.sendRaw(padded(limit))
      yield* client.waitFor("pong to a frame of exactly the limit", (f) => f.event === "pong", 5_000, mark)
      yield* client.sendRaw(padded(limit + 1))
      expect(yield* client.closed(5_000)).toBe(1009)

      // Nothing else broke: the other client is served, and counted alone.
      yield* pingPong(bystander, "the other client was closed")
      mark = bystander.frames.length
      yield* daemon.cache.upsertSession(makeSession("solo", "s2"))
      yield* bystander.waitFor("session_updated after the close", (f) => f.event === "session_updated" && f.data.sessionId === "s2", 5_000, mark)
      yield* pollUntil(health(daemon), (h) => h.clients === 1, "one client in /health", 5_000)
    }))
})

describe("bad entries in a daemon's Redis streams", () => {
  it.scopedLive("malformed, unsigned, wrongly signed, moved, foreign and replayed entries are skipped and counted; valid ones after them are applied", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("bad-entries")
      const keys = redisKeys(prefix)
      const redis = yield* makeIoRedisClient(redisUrl())
      const alpha = yield* startDaemon("alpha", Option.some(redis), { prefix })
      const client = (yield* subscribedClient(alpha.wsUrl, "sessions")).client

      // "pi", a peer played by the test: genuine presence, so alpha's discovery keeps it live.
      const pi = peerComputer("pi")
      yield* playedPeer(redis, pi, keys).presence
      let counter = 0
      const sealed = (where: string, body: string, options: { secret?: string; seq?: string; from?: string } = {}) =>
        sealFields(options.secret ?? TEST_FLEET_SECRET, where, options.from ?? "pi", options.seq ?? `1-${++counter}`, body)
      const events = keys.events("alpha")
      const event = (e: PeerEvent) => encodePeerEvent(e)
      const before = yield* health(alpha)

      const heartbeat = sealed(events, event({ _tag: "heartbeat", computer: pi }))
      const someBody = event({ _tag: "session_updated", session: makeSession("pi", "forged") })
      const bad: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["not an entry of ours", { hello: "world" }],
        ["unsigned", { from: "pi", seq: "1-900", body: someBody }],
        ["signed with another secret", sealed(events, someBody, { secret: "not-the-fleet-secret-at-all" })],
        ["moved from another daemon's stream", sealed(keys.events("beta"), someBody)],
        ["a malformed sequence", sealed(events, someBody, { seq: "yesterday" })],
        ["a body that is not JSON", sealed(events, "{not json")],
        ["an unknown event", sealed(events, JSON.stringify({ _tag: "session_exploded", computer: "pi" }))],
        ["a session with missing fields", sealed(events, JSON.stringify({ _tag: "session_updated", session: { sessionId: "x", computer: "pi" } }))],
        ["foreign: pi speaking for mallory", sealed(events, event({ _tag: "session_updated", session: makeSession("mallory", "m1") }))],
        ["foreign: pi saying goodbye for alpha", sealed(events, event({ _tag: "goodbye", computer: "alpha" }))],
        ["a replay of pi's heartbeat", heartbeat],
        ["older than pi's window (an earlier epoch)", sealed(events, someBody, { seq: "0-999" })]
      ]
      yield* redis.xadd(events, heartbeat, 1000)
      for (const [, fields] of bad) yield* redis.xadd(events, fields, 1000)
      const valid = makeSession("pi", "p1", { title: "after the garbage" })
      yield* redis.xadd(events, sealed(events, event({ _tag: "session_updated", session: valid })), 1000)

      // The valid entry after the bad ones is applied, and reaches the client.
      const applied = yield* client.waitFor("pi's valid session after the bad entries", (f) => f.event === "session_updated" && f.data.sessionId === "p1", 10_000)
      expect(applied.data).toEqual(valid)
      expect(client.frames.filter((f) => f.event === "session_updated" && f.data.sessionId !== "p1")).toEqual([])
      expect(client.frames.filter((f) => f.event === "computer_removed")).toEqual([])

      // Bad entries in the request stream too; a valid request after them is answered.
      const requests = keys.requests("alpha")
      const badRequests: ReadonlyArray<readonly [string, Record<string, string>]> = [
        ["unsigned request", { from: "pi", seq: "1-901", body: "{}" }],
        ["request signed with another secret", sealed(requests, "{}", { secret: "not-the-fleet-secret-at-all" })],
        ["request body that does not decode", sealed(requests, JSON.stringify({ id: "zz", deadline: "soon", request: { _tag: "format-disk" } }))]
      ]
      for (const [, fields] of badRequests) yield* redis.xadd(requests, fields, 1000)
      const id = randomBytes(12).toString("hex")
      const body = encodeRequest({ id, deadline: Date.now() + 5_000, request: { _tag: "output", sessionId: "nope", lines: 5 } })
      yield* redis.xadd(requests, sealed(requests, body), 1000)
      const [reply] = yield* pollUntil(repliesTo(redis, "pi", id, keys), (replies) => replies.length > 0, "alpha's reply to the valid request after the bad ones", 10_000)
      expect(reply).toEqual({ from: "alpha", id, reply: { _tag: "failed", kind: "SessionNotFound", message: expect.any(String) } })

      // Each bad entry counted once; only the valid ones came in.
      const expected = before.decodeFailures + bad.length + badRequests.length
      const after = yield* pollUntil(health(alpha), (h) => h.decodeFailures >= expected, `decodeFailures ${expected}`, 5_000)
      expect({ decodeFailures: after.decodeFailures, eventsIn: after.eventsIn - before.eventsIn }).toEqual({
        decodeFailures: expected,
        eventsIn: 2
      })
      const sessions = (yield* Effect.promise(() =>
        fetch(alpha.httpUrl("/sessions"), { headers: alpha.authHeaders }).then((r) => r.json() as Promise<ReadonlyArray<any>>)
      ))
      expect(sessions.map((s) => `${s.computer}/${s.sessionId}`)).toEqual(["pi/p1"])
      expect((yield* health(alpha)).status).toBe("ok")
    }))
})

describe("bad HTTP bodies", () => {
  it.scopedLive("invalid bodies, paths and parameters are a 4xx with a message; the daemon serves on", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const send = (method: string, path: string, body?: string) =>
        Effect.promise(async () => {
          const response = await fetch(daemon.httpUrl(path), {
            method,
            headers: { ...daemon.authHeaders, ...(body === undefined ? {} : { "content-type": "application/json" }) },
            ...(body === undefined ? {} : { body })
          })
          const text = await response.text()
          let json: any = undefined
          try {
            json = JSON.parse(text)
          } catch {
            // reported below
          }
          return { status: response.status, json, text }
        })

      const cases: ReadonlyArray<readonly [string, string, string | undefined, number]> = [
        ["POST", "/sessions", "{not json", 400],
        ["POST", "/sessions", "[1,2,3]", 400],
        ["POST", "/sessions", '"a string"', 400],
        ["POST", "/sessions", "null", 400],
        ["POST", "/sessions", '{"title":5}', 400],
        ["POST", "/sessions", '{"command":["sh","-c","id"]}', 400],
        ["POST", "/sessions", '{"computer":"bad name!"}', 400],
        ["POST", "/sessions", '{"projectPath":"relative/folder"}', 400],
        ["POST", "/sessions", JSON.stringify({ title: "x".repeat(300 * 1024) }), 413],
        ["POST", "/sessions/abc/input", "{}", 400],
        ["POST", "/sessions/abc/input", '{"text":1}', 400],
        ["POST", "/sessions/abc/input", '{"text":""}', 400],
        ["POST", "/sessions/abc/input", "{\"text\":", 400],
        ["POST", "/sessions/a%20b!/input", '{"text":"ls"}', 400],
        ["GET", "/sessions/abc/output?lines=many", undefined, 400],
        ["GET", "/sessions/abc/output?lines=0", undefined, 400]
      ]
      for (const [method, path, body, status] of cases) {
        const answer = yield* send(method, path, body)
        const what = `${method} ${path} ${body?.slice(0, 40) ?? ""}`
        expect({ what, status: answer.status }).toEqual({ what, status })
        expect({ what, message: answer.json?.message }).toEqual({ what, message: expect.stringMatching(/\S/) })
      }

      // Nothing else broke.
      expect((yield* send("GET", "/health")).status).toBe(200)
      const created = yield* send("POST", "/sessions", '{"title":"still works","command":"sh"}')
      expect(created.status).toBe(201)
      expect(created.json).toMatchObject({ title: "still works", computer: "solo" })
    }))
})
