/**
 * Agent sessions end to end: the stand-in agents of `test/agents/` run in a
 * session of alpha with termfleet's hooks installed in their home; their
 * state reaches a client of beta (a second daemon, one real Redis), an
 * answer sent from beta reaches the stand-in on alpha, which moves on, and
 * its end reaches beta as `exited`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import type { AgentStatus, Session } from "../../src/domain/Model.js"
import { homeWithHooks, keepToken, standIn } from "../support/Agents.js"
import { request } from "../support/Panes.js"
import { cli } from "../support/Cli.js"
import { freePort, uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startDaemon, TEST_TOKEN } from "../support/TestDaemon.js"
import { subscribedClient, type WsClient } from "../support/WsClient.js"

const redisUrl = useRedis()

/** Each hook call starts a termfleet process, as with the real agents: on a busy 2-core machine that takes seconds. */
const AGENT_TEST_MILLIS = 90_000

const fleet = Effect.gen(function*() {
  const prefix = uniquePrefix("agents")
  const daemon = (computer: string) =>
    Effect.flatMap(makeIoRedisClient(redisUrl()), (redis) => startDaemon(computer, Option.some(redis), { prefix }))
  const alpha = yield* daemon("alpha")
  yield* keepToken(alpha.settings.stateDir, TEST_TOKEN)
  const beta = yield* daemon("beta")
  const onBeta = (yield* subscribedClient(beta.wsUrl, "sessions")).client
  return { alpha, beta, onBeta }
})

/** The next update of session `id` whose agent status satisfies `where`. */
const agentUpdate = (client: WsClient, id: string, where: (agent: AgentStatus) => boolean) =>
  Effect.map(
    client.nextEvent("session_updated", (s: Session) => s.sessionId === id && s.agent !== undefined && where(s.agent)),
    (frame) => frame.data.agent as AgentStatus
  )

describe("agent sessions across the fleet", () => {
  it.scopedLive("Claude Code: its hooks and screen reach beta's client; answering the permission from beta moves it on; quitting it is exited on beta", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("claude")
      const { alpha, beta, onBeta } = yield* fleet
      const created = yield* request(beta, "POST", "/sessions", { computer: "alpha", title: "claude", command: standIn("claude", home) })
      expect(created.status).toBe(201)
      const id: string = created.body.sessionId

      // Recognised by its command, at its prompt by its screen: no hook has run yet.
      const ready = yield* agentUpdate(onBeta, id, (a) => a.state === "done")
      expect(ready).toMatchObject({ name: "claude", source: "screen", reason: null, conflict: null })

      expect((yield* request(beta, "POST", `/sessions/${id}/input`, { text: "remove the build folder" })).status).toBe(200)
      const asked = yield* agentUpdate(onBeta, id, (a) => a.state === "waiting")
      expect(asked).toMatchObject({ name: "claude", reason: "permission", source: "hook", summary: "Bash: rm -rf build", conflict: null })
      // The answers come from the screen, which shows the dialog a moment after the hook.
      const offered = asked.choices.length > 0 ? asked : yield* agentUpdate(onBeta, id, (a) => a.choices.length > 0)
      expect(offered.choices.map((c) => c.label)).toEqual([
        "Yes",
        "Yes, and don't ask again for rm commands in /home/dev/app",
        "No, and tell Claude what to do differently (esc)"
      ])
      expect(offered.since).toBe(asked.since)

      expect((yield* request(beta, "POST", `/sessions/${id}/input`, { text: offered.choices[0]!.keys })).status).toBe(200)
      const finished = yield* agentUpdate(onBeta, id, (a) => a.state === "done" && a.source === "hook")
      expect(finished).toMatchObject({ summary: "Removed the build folder.", choices: [] })

      const health = (yield* request(alpha, "GET", "/health")).body
      // UserPromptSubmit, PreToolUse, PermissionRequest, Notification, PostToolUse, Stop.
      expect(health).toMatchObject({ hooksIn: 6, hooksRefused: 0 })

      // Quitting it from beta: its end (the SessionEnd hook, then its process gone) reaches beta's client.
      expect((yield* request(beta, "POST", `/sessions/${id}/input`, { text: "/exit" })).status).toBe(200)
      const exited = yield* agentUpdate(onBeta, id, (a) => a.state === "exited")
      expect(exited).toMatchObject({ name: "claude", summary: "ended: prompt_input_exit", choices: [] })
    }), AGENT_TEST_MILLIS)

  it.scopedLive("Codex: its approval is read off the screen (notify says nothing of it), its finished turn comes by notify; termfleet wait on beta follows it", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("codex")
      const { alpha, beta, onBeta } = yield* fleet
      const onBetaCli = (...argv: ReadonlyArray<string>) => cli("wait", "--url", beta.httpUrl("").replace(/\/$/, ""), ...argv)
      // A session no daemon has is waited for a moment (it may be on its way from another computer), then refused.
      const unknown = yield* Effect.fork(onBetaCli("0123456789ab"))
      const created = yield* request(beta, "POST", "/sessions", { computer: "alpha", title: "codex", command: standIn("codex", home) })
      const id: string = created.body.sessionId
      yield* agentUpdate(onBeta, id, (a) => a.name === "codex" && a.state === "done")

      const permission = yield* Effect.fork(onBetaCli("--until", "waiting", id))
      yield* request(beta, "POST", `/sessions/${id}/input`, { text: "remove the build folder" })
      const asked = yield* agentUpdate(onBeta, id, (a) => a.state === "waiting")
      expect(asked).toMatchObject({ reason: "permission", source: "screen", summary: "rm -rf build" })
      expect(asked.choices.map((c) => c.keys)).toEqual(["1", "2", "3"])
      expect(yield* Fiber.join(permission)).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^alpha/${id} codex waiting permission \\d+s: rm -rf build\n$`)) })
      // Already there: at once. Not there in time: exit 5.
      expect(JSON.parse((yield* onBetaCli("--json", "--until", "waiting", id)).stdout)).toMatchObject({ sessionId: id, agent: { state: "waiting" } })
      expect(yield* onBetaCli("--until", "exited", "--timeout", "100ms", id)).toMatchObject({ code: 5, stderr: expect.stringContaining("within") })

      // --until done waits out the permission; without --until, done (or waiting) ends the wait at once.
      const turnOver = yield* Effect.fork(onBetaCli("--until", "done", id))
      yield* request(beta, "POST", `/sessions/${id}/input`, { text: "1" })
      const finished = yield* agentUpdate(onBeta, id, (a) => a.state === "done" && a.source === "hook")
      expect(finished.summary).toBe("Added --verbose: it raises the log level to debug.")
      expect(yield* Fiber.join(turnOver)).toMatchObject({ code: 0, stdout: expect.stringContaining("codex done") })
      expect(yield* onBetaCli(id)).toMatchObject({ code: 0, stdout: expect.stringContaining("codex done") })
      expect((yield* request(alpha, "GET", "/health")).body).toMatchObject({ hooksIn: 1, hooksRefused: 0 })

      // The session ends while waited on: exit 4. No daemon: exit 3.
      const ended = yield* Effect.fork(onBetaCli("--until", "working", id))
      yield* request(beta, "DELETE", `/sessions/${id}`)
      expect(yield* Fiber.join(ended)).toMatchObject({ code: 4 })
      expect(yield* Fiber.join(unknown)).toMatchObject({ code: 4, stderr: expect.stringContaining("no session '0123456789ab'") })
      const away = `http://127.0.0.1:${yield* Effect.promise(freePort)}`
      expect(yield* cli("wait", "--url", away, id)).toMatchObject({ code: 3 })
    }), AGENT_TEST_MILLIS)
})
