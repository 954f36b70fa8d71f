/**
 * Bounded input: HTTP bodies (413), WebSocket frames (close 1009), input
 * text (400), WebSocket clients (`too_many_clients`, close 1013) and the
 * write rate (429 with retry-after; the bucket refills on Effect's Clock, so
 * the rate test runs on the TestClock and moves time itself).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, TestClock } from "effect"
import { defaultLimits, Limits } from "../../src/domain/Limits.js"
import { pollUntil } from "../support/Poll.js"
import { json, raw, untilClosed } from "../support/RawHttp.js"
import { startDaemon, type TestDaemon } from "../support/TestDaemon.js"
import { connectWs } from "../support/WsClient.js"

const post = (daemon: TestDaemon, path: string, body: string, options: { readonly chunked?: boolean } = {}) =>
  raw(daemon.httpUrl(path), {
    method: "POST",
    headers: { ...daemon.authHeaders, "content-type": "application/json" },
    body,
    ...options
  })

const createCat = (daemon: TestDaemon) =>
  Effect.map(post(daemon, "/sessions", json({ title: "cat", command: "cat" })), (r) => {
    expect(r.status).toBe(201)
    return r.json.sessionId as string
  })

describe("oversize input", () => {
  const maxBodyBytes = 8 * 1024
  // Valid JSON, so only its size is wrong.
  const oversize = JSON.stringify({ title: "big", command: `echo ${"x".repeat(maxBodyBytes)}` })

  it.scopedLive("a body over maxBodyBytes (declared by Content-Length) is a 413 with a message", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none(), { limits: { ...defaultLimits, maxBodyBytes } })
      expect(Buffer.byteLength(oversize)).toBeGreaterThan(maxBodyBytes)

      const declared = yield* post(daemon, "/sessions", oversize)
      expect(declared.status).toBe(413)
      expect(declared.json.message).toContain(String(maxBodyBytes))
      // A body just within the limit gets past the guard (the route answers).
      const fits = JSON.stringify({ text: "y".repeat(maxBodyBytes - 20) })
      expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(maxBodyBytes)
      expect((yield* post(daemon, "/sessions/nope/input", fits)).status).toBe(404)
      // Not JSON: 400 with a message.
      const garbled = yield* post(daemon, "/sessions", "{\"title\": ")
      expect(garbled.status).toBe(400)
      expect(garbled.json.message).toMatch(/JSON/)
      expect(yield* daemon.cache.sessions()).toEqual([])
    }))

  it.scopedLive("a chunked body (no Content-Length) is refused up front with 411 and a message, never read", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none(), { limits: { ...defaultLimits, maxBodyBytes } })
      // Chunked: the size would show only while reading, so writes must declare it.
      for (const body of [oversize, json({ title: "small", command: "sh" })]) {
        const chunked = yield* post(daemon, "/sessions", body, { chunked: true }).pipe(
          Effect.catchAll((error) => Effect.succeed({ status: `no response (${error.message})`, json: undefined }))
        )
        expect(chunked.status).toBe(411)
        expect(chunked.json?.message).toContain("Content-Length")
      }

      expect(yield* daemon.cache.sessions()).toEqual([])
    }))

  it.scopedLive("a WebSocket frame over maxFrameBytes closes the connection with 1009; a frame within it is answered", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      const max = daemon.settings.limits.maxFrameBytes
      const fine = yield* connectWs(daemon.wsUrl)
      yield* fine.sendRaw(JSON.stringify({ type: "ping", pad: "p".repeat(max - 40) }))
      // Within the limit: read (an unknown field is either ignored or an error frame), connection kept.
      const answer = yield* fine.next
      expect(["pong", "error"]).toContain(answer.event)
      yield* fine.send({ type: "ping" })
      expect((yield* fine.nextEvent("pong")).event).toBe("pong")

      const big = yield* connectWs(daemon.wsUrl)
      yield* big.sendRaw(JSON.stringify({ type: "ping", pad: "p".repeat(max) }))
      expect(yield* big.closed(10_000)).toBe(1009)
      const bigBinary = yield* connectWs(daemon.wsUrl)
      yield* bigBinary.sendRaw(Buffer.alloc(max + 1, 0x20))
      expect(yield* bigBinary.closed(10_000)).toBe(1009)
    }))

  it.scopedLive("input text over 16 KiB (or with NUL) is a 400 with a message; 16 KiB exactly is typed", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      const id = yield* createCat(daemon)
      const input = (text: string) => post(daemon, `/sessions/${id}/input`, json({ text }))
      const LIMIT = Limits.inputBytes
      for (const [what, text] of [
        ["16 KiB + 1 ASCII", "a".repeat(LIMIT + 1)],
        ["over 16 KiB of UTF-8 in fewer characters", "é".repeat(LIMIT / 2 + 1)],
        ["a NUL", "echo a\u0000b"]
      ] as const) {
        const response = yield* input(text)
        expect({ what, status: response.status }).toEqual({ what, status: 400 })
        expect({ what, message: response.json.message }).toEqual({ what, message: expect.any(String) })
      }
      const sessionNow = (yield* daemon.cache.sessions()).find((s) => s.sessionId === id)
      expect(sessionNow?.lastInput).toBeNull()
      const atLimit = yield* input("b".repeat(LIMIT))
      expect(atLimit.status).toBe(200)
    }))

  it.scopedLive("/openapi.json states the payload limits of Limits.ts, and the API applies exactly those", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none())
      const doc = (yield* raw(daemon.httpUrl("/openapi.json"), { headers: daemon.authHeaders })).json
      const body = (path: string) => doc.paths[path].post.requestBody.content["application/json"].schema.properties
      expect(body("/sessions/{id}/input").text).toMatchObject({ minLength: 1, maxLength: Limits.inputBytes })
      expect(body("/sessions").title).toMatchObject({ maxLength: Limits.titleChars })
      expect(body("/sessions").command).toMatchObject({ maxLength: Limits.commandChars })
      const lines = doc.paths["/sessions/{id}/output"].get.parameters.find((p: { name: string }) => p.name === "lines")
      expect(lines.schema.description).toBe(`a whole number from 1 to ${Limits.outputLines} (default ${Limits.defaultOutputLines})`)

      // maxLength counts characters as JSON Schema does: 100 emoji (200 UTF-16 units) are a valid title.
      const create = (fields: Record<string, string>) => post(daemon, "/sessions", json({ command: "cat", ...fields }))
      expect((yield* create({ title: "😀".repeat(Limits.titleChars) })).status).toBe(201)
      expect((yield* create({ title: "😀".repeat(Limits.titleChars + 1) })).status).toBe(400)
      const tooLong = yield* create({ command: `cat ${"x".repeat(Limits.commandChars - 3)}` })
      expect({ status: tooLong.status, message: tooLong.json.message }).toEqual({
        status: 400,
        message: expect.stringContaining(`a command is at most ${Limits.commandChars} characters`)
      })
      const id = (yield* daemon.cache.sessions())[0]!.sessionId
      const output = (lines: string) => raw(daemon.httpUrl(`/sessions/${id}/output?lines=${lines}`), { headers: daemon.authHeaders })
      expect((yield* output(String(Limits.outputLines))).status).toBe(200)
      for (const lines of ["0", String(Limits.outputLines + 1), "1.5"]) {
        expect({ lines, status: (yield* output(lines)).status }).toEqual({ lines, status: 400 })
      }
    }))

  it.scopedLive("past maxClients a WebSocket client gets a too_many_clients error frame and close 1013", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none(), { limits: { ...defaultLimits, maxClients: 2 } })
      const first = yield* connectWs(daemon.wsUrl)
      const second = yield* connectWs(daemon.wsUrl)
      for (const client of [first, second]) {
        yield* client.send({ type: "ping" })
        yield* client.nextEvent("pong")
      }
      const third = yield* untilClosed(daemon.wsUrl, "the third client", "5 seconds")
      expect(third.frames[0]).toMatchObject({ event: "error", data: { code: "too_many_clients", message: expect.any(String) } })
      expect(third.code).toBe(1013)
      expect(yield* daemon.hub.clientCount).toBe(2)

      // A place freed is a place taken.
      yield* first.close
      yield* first.closed(10_000)
      yield* pollUntil(daemon.hub.clientCount, (n) => n === 1, "the closed client gone")
      const fourth = yield* connectWs(daemon.wsUrl)
      yield* fourth.send({ type: "ping" })
      expect((yield* fourth.nextEvent("pong")).event).toBe("pong")
    }))
})

describe("write rate", () => {
  it.scoped("past the burst a write is a 429 with retry-after and a message; a second later one is accepted; reads are never limited", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none(), {
        limits: { ...defaultLimits, writesPerSecond: 1, writeBurst: 3 }
      })
      const write = raw(daemon.httpUrl("/sessions/none"), { method: "DELETE", headers: daemon.authHeaders })
      const read = raw(daemon.httpUrl("/sessions"), { headers: daemon.authHeaders })

      // The burst: past the guard, the route answers 404 (no such session).
      for (let i = 1; i <= 3; i++) expect({ write: i, status: (yield* write).status }).toEqual({ write: i, status: 404 })
      const limited = yield* write
      expect(limited.status).toBe(429)
      expect(limited.headers["retry-after"]).toBe("1")
      expect(limited.json.message).toMatch(/1 writes? per second/)
      // Every kind of write counts.
      const create = yield* raw(daemon.httpUrl("/sessions"), {
        method: "POST",
        headers: { ...daemon.authHeaders, "content-type": "application/json" },
        body: json({ title: "limited", command: "cat" })
      })
      expect(create.status).toBe(429)
      expect(yield* daemon.cache.sessions()).toEqual([])

      for (let i = 0; i < 20; i++) expect((yield* read).status).toBe(200)
      expect((yield* raw(daemon.httpUrl("/health"), { headers: daemon.authHeaders })).status).toBe(200)

      yield* TestClock.adjust("1 second")
      expect((yield* write).status).toBe(404)
      expect((yield* write).status).toBe(429)
    }))
})
