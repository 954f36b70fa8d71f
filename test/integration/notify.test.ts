/**
 * `--notify-url`: the owning daemon POSTs an event when an agent session
 * starts waiting or finishes, linking to the session where people open the
 * dashboard; a peer showing the same session sends nothing.
 * A webhook that fails or never answers is retried, then given up, and holds
 * up nothing: the session's changes reach clients at once meanwhile.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { request as httpsRequest } from "node:https"
import { hostname } from "node:os"
import { join } from "node:path"
import { defaultLimits } from "../../src/domain/Limits.js"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { startDaemonProcess } from "../support/DaemonProcess.js"
import { hookPayload } from "../support/Screens.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { startDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"
import { makeCertificates } from "../support/TlsRedis.js"
import { privateTmux } from "../support/TmuxServer.js"
import { webhook } from "../support/Webhook.js"
import { subscribedClient } from "../support/WsClient.js"

const redisUrl = useRedis()

const fast = { ...defaultLimits, notifyTimeoutMillis: 300, notifyRetries: 2, notifyBackoffMillis: 50 }

const daemon = (computer: string, prefix: string, notifyUrl: string, limits = fast) =>
  Effect.flatMap(makeIoRedisClient(redisUrl()), (redis) =>
    startDaemon(computer, Option.some(redis), { prefix, notifyUrl: Option.some(notifyUrl), limits }))

const api = (daemon: TestDaemon, method: string, path: string, body?: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method,
      headers: { ...daemon.authHeaders, "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body })
    })
    const text = await response.text()
    return { status: response.status, body: text === "" ? null : JSON.parse(text) }
  })

const hook = (daemon: TestDaemon, sessionId: string, name: string) =>
  Effect.flatMap(api(daemon, "POST", "/hooks/claude", hookPayload(name), { "x-termfleet-session": sessionId }), (answer) =>
    answer.status === 204 ? Effect.void : Effect.die(`hook ${name}: ${answer.status}`))

/** A POST over HTTPS trusting only `ca`, with the test token: its status and JSON answer. */
const httpsPost = (url: string, ca: string, body: string, headers: Readonly<Record<string, string>> = {}) =>
  Effect.async<{ readonly status: number; readonly body: any }, Error>((resume) => {
    const req = httpsRequest(url, {
      method: "POST",
      ca,
      headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers }
    }, (response) => {
      let text = ""
      response.on("data", (chunk: Buffer) => void (text += chunk.toString()))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: text === "" ? null : JSON.parse(text) })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end(body)
  })

describe("notify-url", () => {
  it.scopedLive("the owner posts when an agent starts waiting and when it finishes; the peer showing it posts nothing", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("notify")
      const toAlpha = yield* webhook(() => 204)
      const toBeta = yield* webhook(() => 204)
      const alpha = yield* daemon("alpha", prefix, toAlpha.url)
      const beta = yield* daemon("beta", prefix, toBeta.url)
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
      const id: string = (yield* api(alpha, "POST", "/sessions", JSON.stringify({ title: "agent", command: "sh" }))).body.sessionId

      yield* hook(alpha, id, "claude-UserPromptSubmit")
      yield* hook(alpha, id, "claude-PreToolUse")
      yield* hook(alpha, id, "claude-PermissionRequest")
      yield* hook(alpha, id, "claude-Notification-permission")
      yield* hook(alpha, id, "claude-PostToolUse")
      yield* hook(alpha, id, "claude-Stop")
      // Beta has seen every step, so it had every chance to send.
      yield* onBeta.nextEvent("session_updated", (s) => s.sessionId === id && s.agent?.state === "done")

      const events = yield* pollUntil(Effect.sync(toAlpha.received), (r) => r.length >= 2, "two notifications", 10_000)
      expect(events.map((r) => r.body)).toEqual([
        expect.objectContaining({
          session: id,
          title: "agent",
          computer: "alpha",
          agent: "claude",
          state: "waiting",
          reason: "permission",
          summary: "Bash: rm -rf build",
          link: `${alpha.httpUrl("")}/#session=alpha/${id}`,
          text: "alpha/agent is waiting (permission): Bash: rm -rf build"
        }),
        expect.objectContaining({ session: id, state: "done", reason: null, summary: "Removed the build folder." })
      ])
      expect(toBeta.received()).toEqual([])
    }))

  it.scopedLive("the link is the public URL people open (--public-url), naming the session", () =>
    Effect.gen(function*() {
      const received = yield* webhook(() => 204)
      const alpha = yield* startDaemon("alpha", Option.none(), {
        notifyUrl: Option.some(received.url),
        publicUrl: Option.some("https://fleet.example/"),
        limits: fast
      })
      const id: string = (yield* api(alpha, "POST", "/sessions", JSON.stringify({ command: "sh" }))).body.sessionId
      yield* hook(alpha, id, "claude-UserPromptSubmit")
      yield* hook(alpha, id, "claude-PermissionRequest")
      const [event] = yield* pollUntil(Effect.sync(received.received), (r) => r.length === 1, "the waiting event", 10_000)
      expect(event!.body).toMatchObject({ state: "waiting", link: `https://fleet.example/#session=alpha/${id}` })
    }))

  it.scopedLive("without --public-url, a daemon serving TLS on every interface links to this computer's name over https", () =>
    Effect.gen(function*() {
      const received = yield* webhook(() => 204)
      const certs = yield* makeCertificates
      const ca = readFileSync(certs.caCert, "utf8")
      const tmuxSocket = yield* privateTmux
      const stateDir = yield* tempDir("tf-notify")
      const tokenFile = join(stateDir, "given-token")
      writeFileSync(tokenFile, `${TEST_TOKEN}\n`, { mode: 0o600 })
      const alpha = yield* startDaemonProcess([
        "--computer", "alpha", "--host", "0.0.0.0", "--port", "0", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey,
        "--notify-url", received.url, "--tmux-socket", tmuxSocket, "--state-dir", stateDir, "--token-file", tokenFile
      ], { tmuxSocket })
      const at = `https://127.0.0.1:${alpha.port}`
      const id: string = (yield* httpsPost(`${at}/sessions`, ca, JSON.stringify({ command: "sh" }))).body.sessionId
      for (const name of ["claude-UserPromptSubmit", "claude-PermissionRequest"]) {
        expect((yield* httpsPost(`${at}/hooks/claude`, ca, hookPayload(name), { "x-termfleet-session": id })).status).toBe(204)
      }
      const [event] = yield* pollUntil(Effect.sync(received.received), (r) => r.length === 1, "the waiting event", 10_000)
      expect(event!.body).toMatchObject({ state: "waiting", link: `https://${hostname()}:${alpha.port}/#session=alpha/${id}` })
    }))

  it.scopedLive("a webhook that never answers holds up nothing: later changes reach clients, later events are sent", () =>
    Effect.gen(function*() {
      const silent = yield* webhook(() => "never")
      const alpha = yield* daemon("alpha", uniquePrefix("notify-silent"), silent.url, { ...fast, notifyTimeoutMillis: 60_000 })
      const onAlpha = (yield* subscribedClient(alpha.wsUrl, "sessions")).client
      const id: string = (yield* api(alpha, "POST", "/sessions", JSON.stringify({ command: "sh" }))).body.sessionId

      yield* hook(alpha, id, "claude-UserPromptSubmit")
      yield* hook(alpha, id, "claude-PermissionRequest")
      yield* pollUntil(Effect.sync(silent.received), (r) => r.length === 1, "the waiting event, held unanswered", 10_000)
      yield* hook(alpha, id, "claude-Stop")
      yield* onAlpha.nextEvent("session_updated", (s) => s.sessionId === id && s.agent?.state === "done")
      const held = yield* pollUntil(Effect.sync(silent.received), (r) => r.length === 2, "the done event beside it", 10_000)
      expect(held.map((r) => r.body.state)).toEqual(["waiting", "done"])
    }))

  it.scopedLive("a try that times out or fails is retried with backoff, then the event is given up", () =>
    Effect.gen(function*() {
      // The very first try never answers (its timeout ends it); every other fails at once.
      const broken = yield* webhook((attempt) => (attempt === 1 ? "never" : 500))
      const alpha = yield* daemon("alpha", uniquePrefix("notify-broken"), broken.url, fast)
      const id: string = (yield* api(alpha, "POST", "/sessions", JSON.stringify({ command: "sh" }))).body.sessionId
      const tries = (state: string) => broken.received().filter((r) => r.body.state === state).length
      const all = fast.notifyRetries + 1

      yield* hook(alpha, id, "claude-UserPromptSubmit")
      yield* hook(alpha, id, "claude-PermissionRequest")
      yield* pollUntil(Effect.sync(() => tries("waiting")), (n) => n === all, "every try of the waiting event", 10_000)
      // The next event, tried and given up in full, leaves time for any try too many of the first.
      yield* hook(alpha, id, "claude-Stop")
      yield* pollUntil(Effect.sync(() => tries("done")), (n) => n === all, "every try of the done event", 10_000)
      expect(broken.received().map((r) => r.body.state)).toEqual([...Array(all).fill("waiting"), ...Array(all).fill("done")])
    }))
})
