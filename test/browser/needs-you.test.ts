/**
 * "Needs you" in a real browser at a phone's size (390×844, Chromium): the
 * stand-in Claude Code runs on alpha with termfleet's hooks; beta's page
 * shows it waiting for a permission at the top, notifies, and its answer
 * button types into alpha's pane, after which the card leaves.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { homeWithHooks, keepToken, standIn } from "../support/Agents.js"
import { launchBrowser } from "../support/Browser.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"

const redisUrl = useRedis()
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url))

const fleetDaemon = (computer: string, prefix: string) =>
  Effect.flatMap(makeIoRedisClient(redisUrl()), (redis) => startDaemon(computer, Option.some(redis), { prefix }))

const post = (daemon: TestDaemon, path: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method: "POST",
      headers: { ...daemon.authHeaders, "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await response.json()) as any
  })

declare global {
  interface Window {
    shown: Array<{ title: string; body: string | undefined }>
  }
}

describe("Needs you", () => {
  it.scopedLive("on a phone: alpha's waiting agent tops beta's page, is notified, answered by a button, and leaves", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("claude")
      const prefix = uniquePrefix("needs-you")
      const alpha = yield* fleetDaemon("alpha", prefix)
      yield* keepToken(alpha.settings.stateDir, TEST_TOKEN)
      const beta = yield* fleetDaemon("beta", prefix)
      const browser = yield* launchBrowser
      const context = yield* Effect.acquireRelease(
        Effect.promise(() => browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })),
        (context) => Effect.promise(() => context.close())
      )
      // Headless Chromium shows no notifications: the page's are recorded instead, as granted.
      yield* Effect.promise(() =>
        context.addInitScript(() => {
          window.shown = []
          window.Notification = class {
            static permission = "granted"
            static requestPermission = async () => "granted"
            constructor(title: string, options?: { body?: string }) {
              window.shown.push({ title, body: options?.body })
            }
          } as unknown as typeof Notification
        }))
      const page = yield* Effect.promise(() => context.newPage())
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(error.message))
      yield* Effect.promise(() => page.goto(beta.httpUrl(`/?token=${TEST_TOKEN}`)))
      yield* Effect.promise(() => page.locator('[data-testid="connection"][data-state="live"]').waitFor())

      const { sessionId } = yield* post(beta, "/sessions", { computer: "alpha", title: "fix build", command: standIn("claude", home) })
      yield* Effect.promise(() => page.locator(`[data-testid="session"][data-session-id="${sessionId}"]`).waitFor())
      expect(yield* Effect.promise(() => page.getByTestId("needs-you").isHidden())).toBe(true)

      yield* post(beta, `/sessions/${sessionId}/input`, { text: "remove the build folder" })
      const card = page.locator(`[data-testid="needs-card"][data-session-id="${sessionId}"]`)
      yield* Effect.promise(() => card.getByTestId("needs-choice").nth(2).waitFor())
      expect(yield* Effect.promise(() => card.getByTestId("needs-reason").textContent())).toBe("permission")
      expect(yield* Effect.promise(() => card.getByTestId("needs-summary").textContent())).toBe("Bash: rm -rf build")
      expect(yield* Effect.promise(() => card.getByTestId("needs-where").textContent())).toBe("alpha · no project")
      expect(yield* Effect.promise(() => card.getByTestId("needs-choice").allTextContents())).toEqual([
        "Yes",
        "Yes, and don't ask again for rm commands in /home/dev/app",
        "No, and tell Claude what to do differently (esc)"
      ])

      // Above everything, and nothing wider than the phone.
      const layout = yield* Effect.promise(() =>
        page.evaluate(() => {
          const box = (id: string) => document.querySelector(`[data-testid="${id}"]`)!.getBoundingClientRect()
          return {
            scrollWidth: document.documentElement.scrollWidth,
            needs: box("needs-you").toJSON(),
            sessions: box("sessions-view").toJSON(),
            buttons: Array.from(document.querySelectorAll('[data-testid="needs-choice"]'), (b) => b.getBoundingClientRect().toJSON())
          }
        }))
      expect(layout.scrollWidth).toBeLessThanOrEqual(390)
      expect(layout.needs.bottom).toBeLessThanOrEqual(layout.sessions.top)
      for (const button of layout.buttons) {
        expect(button.right).toBeLessThanOrEqual(390)
        expect(button.height).toBeGreaterThanOrEqual(44)
      }
      mkdirSync(artifacts, { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "needs-you-390x844.png") }))

      expect(yield* Effect.promise(() => page.evaluate(() => window.shown))).toEqual([
        { title: "fix build on alpha needs you", body: "permission: Bash: rm -rf build" }
      ])

      yield* Effect.promise(() => card.getByTestId("needs-choice").first().tap())
      yield* Effect.promise(() => card.waitFor({ state: "detached" }))
      // The stand-in on alpha took the answer and went on to finish its turn.
      const agent = Effect.promise(async () =>
        ((await (await fetch(alpha.httpUrl("/sessions"), { headers: alpha.authHeaders })).json()) as Array<any>)
          .find((s) => s.sessionId === sessionId)?.agent)
      const finished = yield* pollUntil(agent, (a) => a?.state === "done", "the agent done on alpha", 30_000)
      expect(finished.summary).toBe("Removed the build folder.")
      expect(errors).toEqual([])
    }), 120_000)
})
