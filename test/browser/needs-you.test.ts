/**
 * "Needs you" in a real browser at a phone's size (390×844, Chromium): the
 * stand-in Claude Code runs with termfleet's hooks on alpha and beta; beta's
 * page lists every waiting session of both, oldest first; it notifies only
 * once the person allowed it; an answer button types into that pane on its
 * computer, after which the card leaves; "Open", and the link of alpha's
 * `--notify-url` event, open the session's live terminal.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { homeWithHooks, keepToken, standIn } from "../support/Agents.js"
import { launchBrowser, screenOf } from "../support/Browser.js"
import { pollUntil } from "../support/Poll.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startFleetDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"
import { webhook } from "../support/Webhook.js"

const redisUrl = useRedis()
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url))

/** Each hook call starts a termfleet process, as with the real agents: on a busy 2-core machine that takes seconds. */
const AGENTS_TEST_MILLIS = 120_000

const post = (daemon: TestDaemon, path: string, body: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(daemon.httpUrl(path), {
      method: "POST",
      headers: { ...daemon.authHeaders, "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    return (await response.json()) as any
  })

/** A session of `computer` running the stand-in, created through `via`; its id. */
const agentSession = (via: TestDaemon, computer: string, home: string, title: string) =>
  Effect.map(post(via, "/sessions", { computer, title, command: standIn("claude", home) }), (created): string => created.sessionId)

/** The agent of a session as its own daemon lists it. */
const agentOn = (daemon: TestDaemon, sessionId: string) =>
  Effect.promise(async () =>
    ((await (await fetch(daemon.httpUrl("/sessions"), { headers: daemon.authHeaders })).json()) as Array<any>)
      .find((s) => s.sessionId === sessionId)?.agent)

declare global {
  interface Window {
    shown: Array<{ title: string; body: string | undefined }>
  }
}

/** A phone-sized, touch browser context; every notification a page raises is recorded in `window.shown`. */
const phone = (browser: Browser) =>
  Effect.gen(function*() {
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })),
      (context) => Effect.promise(() => context.close())
    )
    // The browser's own Notification, permission included; only its construction is recorded.
    yield* Effect.promise(() =>
      context.addInitScript(() => {
        window.shown = []
        window.Notification = new Proxy(window.Notification, {
          construct: (target, args: [string, NotificationOptions?]) => {
            window.shown.push({ title: args[0], body: args[1]?.body })
            return Reflect.construct(target, args)
          }
        })
      }))
    return context
  })

/** `daemon`'s dashboard in a new page of `context`, signed in and live; its uncaught errors are kept in `errors`. */
const dashboard = (context: BrowserContext, daemon: TestDaemon) =>
  Effect.gen(function*() {
    const page = yield* Effect.promise(() => context.newPage())
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    yield* Effect.promise(() => page.goto(daemon.httpUrl(`/?token=${TEST_TOKEN}`)))
    yield* Effect.promise(() => page.locator('[data-testid="connection"][data-state="live"]').waitFor())
    return { page, errors }
  })

const cardOf = (page: Page, sessionId: string) => page.locator(`[data-testid="needs-card"][data-session-id="${sessionId}"]`)

/** The Needs-you cards top to bottom: session, computer and project, reason. */
const cards = (page: Page) =>
  Effect.promise(() =>
    page.getByTestId("needs-card").evaluateAll((found) =>
      found.map((card) => ({
        session: (card as HTMLElement).dataset["sessionId"],
        where: card.querySelector('[data-testid="needs-where"]')!.textContent,
        reason: card.querySelector('[data-testid="needs-reason"]')!.textContent
      }))
    ))

/** Waits until the page shows `sessionId`'s live terminal with `text` on its screen. */
const terminalShows = (page: Page, sessionId: string, text: string) =>
  Effect.gen(function*() {
    yield* Effect.promise(() =>
      page.locator(`[data-testid="terminal"][data-session-id="${sessionId}"][data-state="live"]`).waitFor())
    return yield* pollUntil(screenOf(page, sessionId), (screen) => screen.includes(text), `'${text}' on the terminal's screen`)
  })

/** Nothing wider than the phone, the terminal inside it, over the page (the Needs-you list does not show through). */
const fitsThePhone = (page: Page, sessionId: string) =>
  Effect.promise(() =>
    page.evaluate((id) => ({
      scrollWidth: document.documentElement.scrollWidth,
      terminal: document.querySelector(`[data-testid="terminal"][data-session-id="${id}"]`)!.getBoundingClientRect().toJSON(),
      background: getComputedStyle(document.querySelector('[data-testid="terminals-view"]')!).backgroundColor
    }), sessionId)).pipe(Effect.map((layout) => {
      expect(layout.scrollWidth).toBeLessThanOrEqual(390)
      expect(layout.background).not.toBe("rgba(0, 0, 0, 0)")
      expect(layout.terminal.left).toBeGreaterThanOrEqual(0)
      expect(layout.terminal.right).toBeLessThanOrEqual(390)
      expect(layout.terminal.bottom).toBeLessThanOrEqual(844)
      expect(layout.terminal.height).toBeGreaterThan(0)
    }))

describe("Needs you", () => {
  it.scopedLive("on a phone: alpha's waiting agent tops beta's page, notified once allowed, answered by a button; Open and the notify link show its terminal", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("claude")
      const prefix = uniquePrefix("needs-you")
      const toPhone = yield* webhook(() => 204)
      const alpha = yield* startFleetDaemon(redisUrl(), "alpha", { prefix, notifyUrl: Option.some(toPhone.url) })
      yield* keepToken(alpha.settings.stateDir, TEST_TOKEN)
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      const context = yield* phone(yield* launchBrowser)
      const { page, errors } = yield* dashboard(context, beta)
      const allow = page.getByTestId("needs-notify")
      // Not allowed yet: the page offers to ask.
      yield* Effect.promise(() => allow.waitFor())

      const sessionId = yield* agentSession(beta, "alpha", home, "fix build")
      yield* Effect.promise(() => page.locator(`[data-testid="session"][data-session-id="${sessionId}"]`).waitFor())
      expect(yield* Effect.promise(() => page.getByTestId("needs-you").isHidden())).toBe(true)

      yield* post(beta, `/sessions/${sessionId}/input`, { text: "remove the build folder" })
      const card = cardOf(page, sessionId)
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
      // It started waiting before notifications were allowed: none was raised.
      expect(yield* Effect.promise(() => page.evaluate(() => window.shown))).toEqual([])

      // The person allows them: the browser's prompt, answered through the context, follows the tap.
      yield* Effect.promise(() => context.grantPermissions(["notifications"], { origin: new URL(beta.httpUrl("/")).origin }))
      yield* Effect.promise(() => allow.tap())
      yield* Effect.promise(() => allow.waitFor({ state: "hidden" }))

      yield* Effect.promise(() => card.getByTestId("needs-choice").first().tap())
      yield* Effect.promise(() => card.waitFor({ state: "detached" }))
      // The stand-in on alpha took the answer and went on to finish its turn.
      const finished = yield* pollUntil(agentOn(alpha, sessionId), (a) => a?.state === "done", "the agent done on alpha", 30_000)
      expect(finished.summary).toBe("Removed the build folder.")

      // Its next turn waits again: now one notification says so.
      yield* post(beta, `/sessions/${sessionId}/input`, { text: "remove the build folder again" })
      yield* Effect.promise(() => card.getByTestId("needs-choice").nth(2).waitFor())
      expect(yield* pollUntil(Effect.promise(() => page.evaluate(() => window.shown)), (shown) => shown.length > 0, "a notification")).toEqual([
        { title: "fix build on alpha needs you", body: "permission: Bash: rm -rf build" }
      ])

      // "Open": alpha's session as a live terminal on beta's page, on the phone.
      yield* Effect.promise(() => card.getByTestId("needs-open").tap())
      expect(yield* terminalShows(page, sessionId, "Do you want to proceed?")).toContain("rm -rf build")
      yield* fitsThePhone(page, sessionId)
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "needs-you-open-390x844.png") }))

      // The link alpha POSTed when the session started waiting opens it too, on a page loaded from it
      // (signed in: the browser holds the token's cookie for 127.0.0.1, and both daemons have that token).
      const waiting = toPhone.received().filter((event) => event.body.state === "waiting")
      expect(waiting.length).toBe(2)
      const linked = yield* Effect.promise(() => context.newPage())
      yield* Effect.promise(() => linked.goto(waiting[1]!.body.link))
      expect(yield* terminalShows(linked, sessionId, "Do you want to proceed?")).toContain("rm -rf build")
      yield* fitsThePhone(linked, sessionId)
      // A link to a session the fleet does not have says so, and opens nothing.
      yield* Effect.promise(() => linked.goto(beta.httpUrl("/#session=alpha/gone")))
      yield* Effect.promise(() => linked.getByTestId("error-message").filter({ hasText: "there is no session gone on alpha" }).waitFor())
      expect(yield* Effect.promise(() => linked.getByTestId("terminal").count())).toBe(0)
      expect(errors).toEqual([])
    }), AGENTS_TEST_MILLIS)

  it.scopedLive("on a phone: waiting sessions of two computers listed oldest first; a numbered choice answered by its button", () =>
    Effect.gen(function*() {
      const home = yield* homeWithHooks("claude")
      const prefix = uniquePrefix("needs-order")
      const alpha = yield* startFleetDaemon(redisUrl(), "alpha", { prefix })
      yield* keepToken(alpha.settings.stateDir, TEST_TOKEN)
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      yield* keepToken(beta.settings.stateDir, TEST_TOKEN)
      const { page, errors } = yield* dashboard(yield* phone(yield* launchBrowser), beta)

      /** A stand-in on `computer` given `prompt`, waited for until its card shows, so each starts waiting after the one before. */
      const waitingAgent = (computer: string, title: string, prompt: string) =>
        Effect.gen(function*() {
          const sessionId = yield* agentSession(beta, computer, home, title)
          yield* Effect.promise(() => page.locator(`[data-testid="session"][data-session-id="${sessionId}"]`).waitFor())
          yield* post(beta, `/sessions/${sessionId}/input`, { text: prompt })
          yield* Effect.promise(() => cardOf(page, sessionId).waitFor())
          return sessionId
        })
      const question = yield* waitingAgent("alpha", "new service", "choose a database for the new service")
      const onBeta = yield* waitingAgent("beta", "clean", "remove the build folder")
      const onAlpha = yield* waitingAgent("alpha", "fix build", "remove the build folder")

      expect(yield* cards(page)).toEqual([
        { session: question, where: "alpha · no project", reason: "question" },
        { session: onBeta, where: "beta · no project", reason: "permission" },
        { session: onAlpha, where: "alpha · no project", reason: "permission" }
      ])

      // The question's numbered answers, read off its screen, as buttons.
      const card = cardOf(page, question)
      expect(yield* Effect.promise(() => card.getByTestId("needs-summary").textContent())).toBe("Which database should the new service use?")
      yield* Effect.promise(() => card.getByTestId("needs-choice").nth(2).waitFor())
      expect(yield* Effect.promise(() => card.getByTestId("needs-choice").allTextContents())).toEqual(["PostgreSQL", "SQLite", "Type something."])
      yield* Effect.promise(() => card.getByRole("button", { name: "SQLite" }).tap())
      yield* Effect.promise(() => card.waitFor({ state: "detached" }))
      // The stand-in on alpha read "2" and went on with SQLite.
      const finished = yield* pollUntil(agentOn(alpha, question), (a) => a?.state === "done", "the question's agent done on alpha", 30_000)
      expect(finished.summary).toBe("Set up the service with SQLite.")
      expect((yield* cards(page)).map((c) => c.session)).toEqual([onBeta, onAlpha])
      expect(errors).toEqual([])
    }), AGENTS_TEST_MILLIS)
})
