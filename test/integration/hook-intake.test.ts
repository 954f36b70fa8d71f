/**
 * Hook calls a daemon refuses, and counts in /health: a bad token, a body
 * that is not the agent's documented JSON, an unknown agent or session.
 * Through `POST /hooks/:agent` directly and through `termfleet hook`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Limits } from "../../src/domain/Limits.js"
import { keepToken, termfleetWith } from "../support/Agents.js"
import { hookPayload } from "../support/Screens.js"
import { startDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"

const post = (daemon: TestDaemon, path: string, body: string, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), { method: "POST", headers: { "content-type": "application/json", ...headers }, body })
    return { status: response.status, body: await response.text() }
  })

const health = (daemon: TestDaemon) =>
  Effect.promise(async () => (await (await fetch(daemon.httpUrl("/health"), { headers: daemon.authHeaders })).json()) as Record<string, unknown>)

const withSession = Effect.gen(function*() {
  const daemon = yield* startDaemon("alpha", Option.none())
  yield* keepToken(daemon.settings.stateDir, TEST_TOKEN)
  const created = yield* Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl("/sessions"), {
      method: "POST",
      headers: { ...daemon.authHeaders, "content-type": "application/json" },
      body: JSON.stringify({ command: "sh" })
    })
    return (await response.json()) as { sessionId: string }
  })
  return { daemon, sessionId: created.sessionId }
})

describe("hook intake", () => {
  it.scopedLive("refuses a bad token, a malformed body, an unknown agent or session, and counts each; takes a good call", () =>
    Effect.gen(function*() {
      const { daemon, sessionId } = yield* withSession
      const auth = { ...daemon.authHeaders, "x-termfleet-session": sessionId }
      const stop = hookPayload("claude-Stop")
      const refusals = [
        yield* post(daemon, "/hooks/claude", stop, { authorization: "Bearer not-the-token-at-all", "x-termfleet-session": sessionId }),
        yield* post(daemon, "/hooks/claude", stop, { "x-termfleet-session": sessionId }),
        yield* post(daemon, "/hooks/claude", "{\"hook_event_name\": ", auth),
        yield* post(daemon, "/hooks/claude", JSON.stringify({ ...JSON.parse(stop), stop_hook_active: "yes" }), auth),
        yield* post(daemon, "/hooks/claude", hookPayload("codex-agent-turn-complete"), auth),
        yield* post(daemon, "/hooks/gemini", stop, auth),
        yield* post(daemon, "/hooks/claude", stop, daemon.authHeaders),
        yield* post(daemon, "/hooks/claude", stop, { ...daemon.authHeaders, "x-termfleet-session": "0123456789ab" })
      ]
      expect(refusals.map((r) => r.status)).toEqual([401, 401, 400, 400, 400, 400, 400, 404])
      expect(refusals[3]!.body).toContain("not a claude hook payload")
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 0, hooksRefused: 8 })

      const taken = yield* post(daemon, "/hooks/claude", stop, auth)
      expect(taken.status).toBe(204)
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 1, hooksRefused: 8 })
      const session = Option.getOrThrow(yield* daemon.cache.session({ sessionId, computer: "alpha" }))
      expect(session.agent).toMatchObject({ name: "claude", state: "done", source: "hook", summary: "Removed the build folder." })
    }))

  it.scopedLive("termfleet hook: nothing outside a termfleet session; refused token or body exit 1 (never 2); too large is not sent", () =>
    Effect.gen(function*() {
      const { daemon, sessionId } = yield* withSession
      const inSession = {
        TERMFLEET_SESSION: sessionId,
        TERMFLEET_URL: daemon.httpUrl(""),
        TERMFLEET_STATE_DIR: daemon.settings.stateDir
      }
      const outside = yield* termfleetWith({}, ["hook", "claude"], hookPayload("claude-Stop"))
      expect(outside).toMatchObject({ code: 0, stdout: "", stderr: "" })

      const badToken = yield* termfleetWith({ ...inSession, TERMFLEET_TOKEN: "not-the-token-at-all" }, ["hook", "claude"], hookPayload("claude-Stop"))
      expect(badToken.code).toBe(1)
      expect(badToken.stderr).toContain("the daemon refused the hook")
      const malformed = yield* termfleetWith(inSession, ["hook", "claude"], "{\"hook_event_name\": \"Stop\"}")
      expect(malformed.code).toBe(1)
      expect(malformed.stderr).toContain("not a claude hook payload")
      const huge = JSON.stringify({ ...JSON.parse(hookPayload("claude-UserPromptSubmit")), prompt: "x".repeat(Limits.hookBytes) })
      const tooLarge = yield* termfleetWith(inSession, ["hook", "claude"], huge)
      expect(tooLarge.code).toBe(1)
      expect(tooLarge.stderr).toContain(`at most ${Limits.hookBytes} bytes`)
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 0, hooksRefused: 2 })

      const taken = yield* termfleetWith(inSession, ["hook", "codex", hookPayload("codex-agent-turn-complete")])
      expect(taken).toMatchObject({ code: 0, stdout: "" })
      expect(yield* health(daemon)).toMatchObject({ hooksIn: 1, hooksRefused: 2 })
    }), 60_000)
})
