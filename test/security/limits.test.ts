/**
 * Bounded input: HTTP bodies (413), WebSocket frames (close 1009, from the
 * frame header on: a real daemon process is sent a huge one, and its memory
 * is read from /proc), input text (400), WebSocket clients (`too_many_clients`, close 1013) and the
 * write rate (429 with retry-after; hook calls in a bucket of their own; the
 * buckets refill on Effect's Clock, so the rate tests run on the TestClock
 * and move time themselves).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, type Scope, TestClock } from "effect"
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { join } from "node:path"
import { defaultLimits, Limits } from "../../src/domain/Limits.js"
import { startDaemonProcess } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { json, raw, untilClosed } from "../support/RawHttp.js"
import { hookPayload } from "../support/Screens.js"
import { tempDir } from "../support/TempDir.js"
import { startDaemon, type TestDaemon } from "../support/TestDaemon.js"
import { privateTmux } from "../support/TmuxServer.js"
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

/** `VmRSS` and `VmHWM` (its peak so far) of a process, in bytes, from /proc. */
const memoryOf = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024
  return { rss: kib("VmRSS"), peak: kib("VmHWM") }
}

/**
 * A WebSocket opened by hand on a TCP socket, so the test can write a frame
 * header and then as much of its payload as it likes.
 */
const rawWebSocket = (base: string, token: string): Effect.Effect<Socket, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Socket, Error>((resume) => {
      const { hostname, port } = new URL(base)
      const socket = connect(Number(port), hostname)
      let answer = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        answer = Buffer.concat([answer, chunk])
        const end = answer.indexOf("\r\n\r\n")
        if (end < 0) return
        socket.off("data", onData)
        const head = answer.subarray(0, end).toString()
        if (!head.startsWith("HTTP/1.1 101")) return resume(Effect.fail(new Error(`upgrade refused: ${head}`)))
        if (answer.length > end + 4) socket.unshift(answer.subarray(end + 4))
        resume(Effect.succeed(socket))
      }
      socket.on("data", onData)
      socket.once("error", (error) => resume(Effect.fail(error)))
      socket.write([
        `GET /ws?token=${encodeURIComponent(token)} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
        "Sec-WebSocket-Version: 13",
        "",
        ""
      ].join("\r\n"))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/**
 * Writes the header of a masked binary frame announcing `payloadBytes`, then
 * its payload 64 KiB at a time, reading between writes, until the daemon
 * answers or closes. Answers how much payload had been written by then.
 */
const sendHugeFrame = (socket: Socket, payloadBytes: number) =>
  Effect.async<{ readonly payloadSent: number; readonly answer: Buffer; readonly closed: boolean }>((resume) => {
    let payloadSent = 0
    let answer = Buffer.alloc(0)
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      done = true
      resume(Effect.succeed({ payloadSent, answer, closed }))
    }
    socket.on("data", (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk])
      if (answer.length >= 4) finish(false)
    })
    socket.once("close", () => finish(true))
    socket.on("error", () => finish(true))
    const header = Buffer.alloc(14)
    header[0] = 0x82 // FIN, binary
    header[1] = 0x80 | 127 // masked, 64-bit length
    header.writeBigUInt64BE(BigInt(payloadBytes), 2)
    socket.write(header) // the mask key: zeros
    const piece = Buffer.alloc(64 * 1024, 0x61)
    const next = () => {
      if (done || payloadSent >= payloadBytes) return
      payloadSent += piece.length
      // Yield between writes, so an answer is seen as soon as it arrives.
      if (socket.write(piece)) setImmediate(next)
      else socket.once("drain", next)
    }
    next()
  })

describe("a huge WebSocket frame, on a real daemon process", () => {
  it.scopedLive("is refused with 1009 as its header arrives, long before its payload is sent; the daemon's memory does not grow by its size", () =>
    Effect.gen(function*() {
      const FRAME = 64 * 1024 * 1024
      const tmuxSocket = yield* privateTmux
      const daemon = yield* startDaemonProcess(
        ["--port", "0", "--state-dir", join(yield* tempDir("tf-state"), "state"), "--tmux-socket", tmuxSocket, "--computer", "sec"],
        { tmuxSocket }
      )
      const pid = daemon.pid
      // Warm: one WebSocket client served before the measure.
      yield* Effect.scoped(Effect.flatMap(rawWebSocket(daemon.base, daemon.token), (socket) => Effect.sync(() => socket.end())))
      const before = memoryOf(pid)

      const socket = yield* rawWebSocket(daemon.base, daemon.token)
      const { answer, payloadSent } = yield* sendHugeFrame(socket, FRAME)
      // A close frame from the server: 0x88, its length, then the code.
      expect(answer.length).toBeGreaterThanOrEqual(4)
      expect(answer[0]).toBe(0x88)
      expect(answer.readUInt16BE(2)).toBe(1009)
      expect(answer.subarray(4, 2 + answer[1]!).toString()).toContain(String(65536))
      // Refused from the header: only what was in flight was ever written.
      expect(payloadSent).toBeLessThan(FRAME / 4)
      // And the daemon closes the connection.
      yield* Effect.async<void>((resume) => {
        if (socket.destroyed) return resume(Effect.void)
        socket.once("close", () => resume(Effect.void))
      })

      // Still serving, and the frame never took memory (buffered, it would take FRAME and more).
      const clients = Effect.map(daemon.request("GET", "/health"), (health) => health.body.clients as number)
      yield* pollUntil(clients, (n) => n === 0, "the refused client gone")
      const after = memoryOf(pid)
      expect(after.peak - before.peak).toBeLessThan(FRAME / 2)
      expect(after.rss - before.rss).toBeLessThan(FRAME / 2)
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

  it.scoped("hook calls have a bucket of their own: a burst of them past the writes' never refuses the user's input, nor the user's writes a hook call", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("sec", Option.none(), {
        limits: { ...defaultLimits, writesPerSecond: 1, writeBurst: 3, hooksPerSecond: 1, hookBurst: 6 }
      })
      const session = (yield* post(daemon, "/sessions", json({ command: "cat" }))).json.sessionId
      const hook = raw(daemon.httpUrl("/hooks/claude"), {
        method: "POST",
        headers: { ...daemon.authHeaders, "content-type": "application/json", "x-termfleet-session": session },
        body: hookPayload("claude-Stop")
      })
      const input = post(daemon, `/sessions/${session}/input`, json({ text: "typed\n" }))

      // The burst of hooks, twice the writes' (which the creation above took one of).
      for (let i = 1; i <= 6; i++) expect({ hook: i, status: (yield* hook).status }).toEqual({ hook: i, status: 204 })
      const limited = yield* hook
      expect(limited.status).toBe(429)
      expect(limited.json.message).toMatch(/1 hook calls? per second/)
      expect((yield* input).status).toBe(200)
      expect((yield* input).status).toBe(200)
      expect((yield* input).status).toBe(429)

      // Both buckets full again; the writes spent, hooks are still taken.
      yield* TestClock.adjust("10 seconds")
      for (let i = 1; i <= 3; i++) expect({ input: i, status: (yield* input).status }).toEqual({ input: i, status: 200 })
      expect((yield* input).status).toBe(429)
      expect((yield* hook).status).toBe(204)
    }))
})
