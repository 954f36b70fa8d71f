/**
 * Redis going away, as real processes: a redis-server this file owns (killed
 * with SIGKILL and started again on the same port, empty) and daemons run as
 * `node dist/main.js daemon`.
 *
 * - Lost mid-run and back: alpha's sessions keep changing (driven through
 *   alpha's REST API) while Redis is away. Beta's WebSocket client must end
 *   with exactly alpha's sessions, never see a session go back in time, never
 *   get a frame it cannot tell from another (seq only grows), and never see
 *   alpha vanish. Both daemons report the outage in /health and log it once,
 *   and their heartbeats come back. A live terminal of alpha's session on
 *   beta, attached across the outage, ends showing alpha's pane by itself.
 * - Unreachable at start: the daemon serves its own sessions, keeps trying
 *   (every attempt is seen by a stand-in server that hangs up), logs the
 *   outage once, and connects when Redis appears.
 *
 * Nothing sleeps: every wait is for a state (a frame, /health, a key), bounded.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { redisKeys } from "../../src/fleet/RedisKeys.js"
import { pollReached, pollUntil } from "../support/Poll.js"
import { type FleetDaemon, occurrences, requireBuild, spawnFleetDaemon } from "../support/DaemonProcess.js"
import { hangUpServer } from "../support/HangUpServer.js"
import { type Frame, seqOf, subscribedClient, type WsClient } from "../support/WsClient.js"
import { ownRedis } from "../support/OwnRedis.js"
import { connectViewer } from "../support/TerminalViewer.js"
import { tmuxCli } from "../support/TmuxServer.js"
import { viewOf } from "../support/SessionView.js"
import { freePort, uniquePrefix } from "../support/RedisServer.js"

beforeAll(requireBuild)

const health = (daemon: FleetDaemon) => Effect.map(daemon.request("GET", "/health"), (answer) => answer.body)
const redisState = (daemon: FleetDaemon, state: string, withinMillis: number) =>
  pollReached(health(daemon), (h) => h?.redis === state, `${daemon.computer}'s /health to show redis ${state}`, withinMillis)

const stepOf = (lastInput: string | null) => (lastInput === null ? 0 : Number(/-(\d+)$/.exec(lastInput)?.[1] ?? -1))

/** Everything in a client's history that a user could not make sense of. */
const anomalies = (frames: ReadonlyArray<Frame>, computer: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  let lastSeq = -Infinity
  const latest = new Map<string, any>()
  frames.forEach((frame, i) => {
    const seq = seqOf(frame)
    if (seq !== undefined) {
      if (!(seq > lastSeq)) found.push(`frame #${i} (${frame.event}) has seq ${seq}, not above ${lastSeq}`)
      lastSeq = seq
    }
    const seen = (s: any, how: string) => {
      if (s.computer !== computer) return
      const before = latest.get(s.sessionId)
      if (before !== undefined) {
        if (s.lastActivity < before.lastActivity) {
          found.push(`frame #${i} (${how}): ${s.sessionId}'s lastActivity went back ${before.lastActivity} -> ${s.lastActivity}`)
        }
        if (stepOf(s.lastInput) < stepOf(before.lastInput)) {
          found.push(`frame #${i} (${how}): ${s.sessionId}'s lastInput went back '${before.lastInput}' -> '${s.lastInput}'`)
        }
        if (how === "session_updated" && JSON.stringify(s) === JSON.stringify(before)) {
          found.push(`frame #${i}: the same session_updated of ${s.sessionId} twice`)
        }
      }
      latest.set(s.sessionId, s)
    }
    if (frame.event === "sessions_initial") for (const s of frame.data.sessions) seen(s, "sessions_initial")
    if (frame.event === "session_updated") seen(frame.data, "session_updated")
    if (frame.event === "session_removed" && frame.data.computer === computer) latest.delete(frame.data.sessionId)
    if (frame.event === "computer_removed" && frame.data.name === computer) {
      found.push(`frame #${i}: computer_removed for ${computer}, which never stopped (its sessions vanished from the dashboard)`)
      latest.clear()
    }
  })
  return found
}

/** Drives alpha through its REST API; each step is awaited on alpha's own client, which needs no Redis. */
const driver = (alpha: FleetDaemon, onAlpha: WsClient) => {
  const steps = new Map<string, number>()
  const titles = new Map<string, string>()
  return {
    create: (title: string) =>
      Effect.gen(function*() {
        const created = yield* alpha.request("POST", "/sessions", { title, command: "sh" })
        expect(created.status, JSON.stringify(created.body)).toBe(201)
        const id: string = created.body.sessionId
        titles.set(id, title)
        steps.set(id, 0)
        yield* onAlpha.waitFor(`${title} on alpha's client`, (f) => f.event === "session_updated" && f.data.sessionId === id, 10_000)
        return id
      }),
    type: (id: string, times: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < times; i++) {
          const step = steps.get(id)! + 1
          steps.set(id, step)
          const text = `echo ${titles.get(id)}-${step}`
          const mark = onAlpha.frames.length
          const typed = yield* alpha.request("POST", `/sessions/${id}/input`, { text })
          expect(typed.status, JSON.stringify(typed.body)).toBe(200)
          yield* onAlpha.waitFor(`'${text}' on alpha's client`, (f) => f.event === "session_updated" && f.data.lastInput === text, 10_000, mark)
        }
      }),
    end: (id: string) =>
      Effect.gen(function*() {
        const mark = onAlpha.frames.length
        expect((yield* alpha.request("DELETE", `/sessions/${id}`)).status).toBe(204)
        yield* onAlpha.waitFor(`${id} removed on alpha's client`, (f) => f.event === "session_removed" && f.data.sessionId === id, 10_000, mark)
      })
  }
}

const problems: Array<string> = []
/** A check whose failure is recorded, so one run reports every way the daemon misbehaved. */
const check = (ok: boolean, message: string) => {
  expect.soft(ok, message).toBe(true)
  if (!ok) problems.push(message)
}

describe("Redis lost and back", () => {
  it.scopedLive("killed mid-run and restarted empty on its port: beta's client ends with alpha's state, in order, without duplicates or gaps", () =>
    Effect.gen(function*() {
      const redis = yield* ownRedis()
      const prefix = uniquePrefix("outage")
      const keys = redisKeys(prefix)
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: redis.url, prefix })
      const beta = yield* spawnFleetDaemon({ computer: "beta", redisUrl: redis.url, prefix })
      const onAlpha = (yield* subscribedClient(alpha.wsUrl, "sessions")).client
      const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
      const drive = driver(alpha, onAlpha)

      // Before: sessions flow from alpha to beta's client.
      const one = yield* drive.create("one")
      const two = yield* drive.create("two")
      for (const id of [one, two]) {
        yield* onBeta.waitFor(`${id} on beta's client`, (f) => f.event === "session_updated" && f.data.sessionId === id, 15_000)
      }
      // A live terminal of alpha's session on beta, attached across the outage.
      const viewer = yield* connectViewer(beta.wsUrl)
      yield* viewer.send({ type: "attach", sessionId: one, computer: "alpha", cols: 80, rows: 24 })
      yield* viewer.waitUntil("the terminal's snapshot", () => viewer.events().includes("terminal_snapshot"))
      yield* drive.type(one, 4)
      yield* drive.type(two, 3)

      // Redis dies (SIGKILL) while those changes are on their way; alpha's sessions keep changing.
      yield* redis.kill
      yield* drive.type(one, 4)
      const three = yield* drive.create("three")
      yield* drive.end(two)
      yield* drive.type(three, 3)
      const [alphaDown, betaDown] = yield* Effect.all([redisState(alpha, "unreachable", 10_000), redisState(beta, "unreachable", 10_000)], {
        concurrency: 2
      })
      check(Either.isRight(alphaDown), `alpha's /health never showed redis 'unreachable' during the outage: ${Either.isLeft(alphaDown) ? alphaDown.left.message : ""}`)
      check(Either.isRight(betaDown), `beta's /health never showed redis 'unreachable' during the outage: ${Either.isLeft(betaDown) ? betaDown.left.message : ""}`)

      // Redis is back on the same port, empty; alpha keeps going.
      yield* redis.start
      yield* drive.type(one, 4)
      yield* drive.type(three, 3)
      const [alphaUp, betaUp] = yield* Effect.all([redisState(alpha, "connected", 15_000), redisState(beta, "connected", 15_000)], {
        concurrency: 2
      })
      check(Either.isRight(alphaUp), `alpha's /health did not come back to redis 'connected': ${Either.isLeft(alphaUp) ? alphaUp.left.message : ""}`)
      check(Either.isRight(betaUp), `beta's /health did not come back to redis 'connected': ${Either.isLeft(betaUp) ? betaUp.left.message : ""}`)

      // Beta's client ends with exactly alpha's sessions.
      const alphaSessions = Effect.map(alpha.request("GET", "/sessions"), (answer) =>
        [...(answer.body as Array<any>)].sort((a, b) => a.sessionId.localeCompare(b.sessionId)))
      const converged = yield* pollReached(
        Effect.map(alphaSessions, (sessions) => ({ alpha: sessions, betaClient: viewOf(onBeta.frames, "alpha") })),
        ({ alpha, betaClient }) => JSON.stringify(alpha) === JSON.stringify(betaClient),
        "beta's client to show exactly alpha's /sessions",
        45_000,
        250
      )
      check(Either.isRight(converged), `beta's client never matched alpha's /sessions: ${Either.isLeft(converged) ? converged.left.message : ""}`)
      if (Either.isRight(converged)) {
        expect(Object.fromEntries(converged.right.alpha.map((s: any) => [s.title, s.lastInput]))).toEqual({
          one: "echo one-12",
          three: "echo three-6"
        })
      }

      // The terminal on beta shows alpha's pane as tmux has it, by itself, never closed.
      const paneOfOne = Effect.map(tmuxCli(alpha.tmuxSocket, "list-panes", "-a", "-F", "#{pane_id} #{@tf_id}"), (listing) =>
        listing.split("\n").find((line) => line.endsWith(` ${one}`))?.split(" ")[0] ?? "")
      const capture = Effect.flatMap(paneOfOne, (pane) =>
        Effect.map(tmuxCli(alpha.tmuxSocket, "capture-pane", "-p", "-t", pane), (text) => text.replace(/\n$/, "").split("\n").map((row) => row.trimEnd())))
      const terminalSame = yield* pollReached(
        Effect.all({ pane: capture, terminal: Effect.map(viewer.screen, (rows) => rows.map((row) => row.trimEnd())) }),
        ({ pane, terminal }) => JSON.stringify(pane) === JSON.stringify(terminal) && pane.includes("one-12"),
        "beta's terminal to show alpha's pane",
        30_000,
        250
      )
      check(Either.isRight(terminalSame), `beta's terminal of alpha's session never matched it: ${Either.isLeft(terminalSame) ? terminalSame.left.message : ""}`)
      check(!viewer.events().includes("terminal_closed"), `beta's terminal was closed: ${JSON.stringify(viewer.frames().filter((f) => f.event === "terminal_closed"))}`)

      // Nothing out of order, duplicated or missing on the way.
      for (const problem of anomalies(onBeta.frames, "alpha")) check(false, `beta's client: ${problem}`)

      // Heartbeats resumed: both presences are back in the emptied Redis.
      const store = yield* makeIoRedisClient(redis.url)
      const presences = Effect.map(store.mget([keys.computer("alpha"), keys.computer("beta")]), (values) => values.map(Option.isSome))
      const back = yield* pollReached(presences, (found) => found.every(Boolean), "both presence keys back in Redis", 25_000, 250)
      check(Either.isRight(back), `heartbeats did not resume: ${Either.isLeft(back) ? back.left.message : ""}`)
      for (const [daemon, peer] of [[alpha, "beta"], [beta, "alpha"]] as const) {
        const names = Effect.map(daemon.request("GET", "/computers"), (answer) =>
          Array.isArray(answer.body) ? answer.body.map((c: { name: string }) => c.name) : [])
        const known = yield* pollReached(names, (found) => found.includes(peer), `${peer} on ${daemon.computer}'s /computers`, 10_000, 250)
        check(Either.isRight(known), `peers did not come back: ${Either.isLeft(known) ? known.left.message : ""}`)
      }

      // The outage was logged once each way, not once per try.
      for (const daemon of [alpha, beta]) {
        const log = daemon.log()
        const down = log.indexOf("redis unreachable")
        check(occurrences(log, "redis unreachable") === 1, `${daemon.computer} logged 'redis unreachable' ${occurrences(log, "redis unreachable")} times, not once:\n${log}`)
        check(down >= 0 && occurrences(log.slice(down), "redis connected") === 1, `${daemon.computer} did not log 'redis connected' once after the outage:\n${log}`)
      }
      const counters = yield* health(alpha)
      check(counters.eventsOut > 0 && counters.decodeFailures === 0, `alpha's counters: ${JSON.stringify(counters)}`)
      if (problems.length > 0) console.error(`redis-restart: ${problems.length} problem(s):\n- ${problems.join("\n- ")}`)
    }), 180_000)

  it.scopedLive("unreachable at start: serves its own sessions, keeps trying, logs it once, connects when Redis appears", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      // Stands in for Redis: takes each connection and hangs up at once, so every attempt is seen.
      const standIn = yield* hangUpServer(port)
      const prefix = uniquePrefix("late")
      const alpha = yield* spawnFleetDaemon({ computer: "alpha", redisUrl: `redis://127.0.0.1:${port}`, prefix })

      const down = yield* redisState(alpha, "unreachable", 10_000)
      expect(Either.isRight(down), Either.isLeft(down) ? down.left.message : "").toBe(true)
      const created = yield* alpha.request("POST", "/sessions", { title: "offline", command: "sh" })
      expect(created.status, JSON.stringify(created.body)).toBe(201)
      const listed = yield* alpha.request("GET", "/sessions")
      expect(listed.body.map((s: { sessionId: string }) => s.sessionId)).toEqual([created.body.sessionId])

      // It keeps trying, and says so once.
      yield* pollUntil(Effect.sync(standIn.attempts), (n) => n >= 10, "10 connection attempts", 20_000)
      expect(occurrences(alpha.log(), "redis unreachable"), alpha.log()).toBe(1)
      expect(occurrences(alpha.log(), "redis connected"), alpha.log()).toBe(0)

      // Redis appears on that port.
      yield* standIn.close
      const redis = yield* ownRedis(port)
      // Retries are capped at 5 s (jittered) and ioredis reconnects within 2 s: 15 s is ample.
      const up = yield* redisState(alpha, "connected", 15_000)
      expect(Either.isRight(up), Either.isLeft(up) ? up.left.message : "").toBe(true)
      expect(occurrences(alpha.log(), "redis unreachable"), alpha.log()).toBe(1)
      expect(occurrences(alpha.log(), "redis connected"), alpha.log()).toBe(1)
      const store = yield* makeIoRedisClient(redis.url)
      const presence = yield* pollUntil(store.get(redisKeys(prefix).computer("alpha")), Option.isSome, "alpha's presence in Redis", 10_000)
      expect(Option.isSome(presence)).toBe(true)
    }), 60_000)
})
