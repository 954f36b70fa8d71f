/**
 * A daemon starting, as a real process (`node dist/main.js daemon --redis`):
 * `/health` is hammered from the moment the process is spawned (a service
 * manager's health check, `termfleet ls` right after starting), each request
 * on a connection of its own. A request may be refused (nothing listens yet)
 * or answered, 503 while the daemon is not ready and 200 once it is; none may
 * be accepted and left unanswered, nor dropped without an answer.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { request } from "node:http"
import { requireBuild, startDaemonProcess } from "../support/DaemonProcess.js"
import { freePort, uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { TEST_FLEET_SECRET, TEST_TOKEN } from "../support/TestDaemon.js"
import { privateTmux } from "../support/TmuxServer.js"

beforeAll(requireBuild)
const redisUrl = useRedis()

/** How long an accepted request may go unanswered before it counts as hung: far above any start-up. */
const ANSWER_WITHIN_MILLIS = 10_000

type Outcome = { readonly kind: "answered"; readonly status: number } | { readonly kind: "refused" | "dropped" | "hung"; readonly detail: string }

/** One GET /health on a new connection; `refused` when nothing listened yet. */
const probe = (port: number): Promise<Outcome> =>
  new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/health", agent: false, headers: { authorization: `Bearer ${TEST_TOKEN}` } }, (res) => {
      res.resume()
      res.on("end", () => resolve({ kind: "answered", status: res.statusCode ?? 0 }))
    })
    req.setTimeout(ANSWER_WITHIN_MILLIS, () => {
      resolve({ kind: "hung", detail: `no answer within ${ANSWER_WITHIN_MILLIS} ms` })
      req.destroy()
    })
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ECONNREFUSED" ? { kind: "refused", detail: error.code } : { kind: "dropped", detail: error.code ?? error.message }))
    req.end()
  })

describe("requests while the daemon starts", () => {
  it.scopedLive("every request sent from the moment the process spawns is answered (503 until ready, then 200) or refused, never left hanging", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const tmuxSocket = yield* privateTmux
      const stateDir = yield* tempDir("tf-start")
      const probes: Array<Promise<Outcome>> = []
      let firing = true
      const fire = () => {
        if (!firing) return
        probes.push(probe(port))
        setTimeout(fire, 5)
      }
      fire()
      const daemon = yield* startDaemonProcess([
        "--computer", "alpha", "--redis", redisUrl(), "--prefix", uniquePrefix("start"), "--port", String(port),
        "--token", TEST_TOKEN, "--fleet-secret", TEST_FLEET_SECRET, "--tmux-socket", tmuxSocket, "--state-dir", stateDir
      ], { tmuxSocket }).pipe(Effect.ensuring(Effect.sync(() => void (firing = false))))
      // A few more once it is up, answered by the daemon proper.
      for (let i = 0; i < 20; i++) probes.push(probe(port))
      const outcomes = yield* Effect.promise(() => Promise.all(probes))

      const count = (kind: string, status?: number) =>
        outcomes.filter((o) => o.kind === kind && (status === undefined || (o.kind === "answered" && o.status === status))).length
      const summary = `${outcomes.length} requests: ${count("refused")} refused, ${count("answered", 503)} answered 503, ` +
        `${count("answered", 200)} answered 200, ${count("hung")} hung, ${count("dropped")} dropped\n${daemon.log()}`
      expect(outcomes.filter((o) => o.kind === "hung" || o.kind === "dropped"), summary).toEqual([])
      expect(outcomes.filter((o) => o.kind === "answered" && o.status !== 200 && o.status !== 503), summary).toEqual([])
      expect(outcomes.slice(-20).every((o) => o.kind === "answered" && o.status === 200), summary).toBe(true)
    }), 60_000)
})
