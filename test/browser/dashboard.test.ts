/**
 * The dashboard in a real browser (Debian's chromium through playwright-core).
 * Two daemons share one real Redis: the page served by beta starts a session
 * on alpha, types into it, reads its output and ends it, and each step shows
 * up live. Every wait is on something the page shows, never a fixed delay.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import { createServer as createNetServer, type Socket } from "node:net"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Page } from "playwright-core"
import { daemonLayer, productionRedis } from "../../src/Daemon.js"
import { defaultSettings } from "../../src/config/DaemonConfig.js"
import { makeIoRedisClient } from "../../src/fleet/RedisClient.js"
import { launchBrowser, openPage } from "../support/Browser.js"
import { freePort, uniquePrefix, useRedis } from "../support/RedisServer.js"
import { tempDir } from "../support/TempDir.js"
import { startDaemon, TEST_TOKEN } from "../support/TestDaemon.js"
import { privateTmux } from "../support/TmuxServer.js"

const redisUrl = useRedis()

const fleetDaemon = (computer: string, prefix: string) =>
  Effect.flatMap(makeIoRedisClient(redisUrl()), (redis) => startDaemon(computer, Option.some(redis), { prefix }))

const waitFor = (page: Page, selector: string, state: "attached" | "visible" | "hidden" | "detached" = "visible") =>
  Effect.promise(() => page.locator(selector).first().waitFor({ state }))

const live = '[data-testid="connection"][data-state="live"]'
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url))

/** A local-only daemon on a fixed port, so one started again is where the page looks for it. */
const restartable = Effect.gen(function*() {
  const port = yield* Effect.promise(freePort)
  const tmuxSocket = yield* privateTmux
  const stateDir = yield* tempDir("tf-state")
  const settings = defaultSettings({ computer: "solo", port, tmuxSocket, token: Redacted.make(TEST_TOKEN), stateDir })
  const server = NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port })
  /** Starts the daemon; closing the scope it gives stops it. */
  const run = Effect.gen(function*() {
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    yield* Layer.buildWithScope(daemonLayer(settings, { redis: productionRedis, server }), scope)
    return scope
  })
  return { run, port, url: `http://127.0.0.1:${port}` }
})

describe("dashboard", () => {
  it.scopedLive("start, type into and end a session of another computer; see each step live", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("dashboard")
      const alphaScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(alphaScope, Exit.void))
      yield* Scope.extend(fleetDaemon("alpha", prefix), alphaScope)
      const beta = yield* fleetDaemon("beta", prefix)
      const browser = yield* launchBrowser
      const { page, response, errors } = yield* openPage(browser, beta.httpUrl(`/?token=${TEST_TOKEN}`))

      expect(response?.status(), "GET / must answer the dashboard (DashboardRoute in HttpRoutes)").toBe(200)
      const headers = response?.headers() ?? {}
      expect(headers["content-security-policy"]).toContain("script-src 'self'")
      expect(headers["x-content-type-options"]).toBe("nosniff")
      expect(headers["referrer-policy"]).toBe("no-referrer")

      yield* waitFor(page, live)
      yield* waitFor(page, '[data-testid="computer"][data-computer="alpha"] [data-testid="computer-status"].online')
      yield* waitFor(page, '[data-testid="new-computer"] option[value="alpha"]', "attached")

      // An error from the API is shown to the user.
      yield* Effect.promise(async () => {
        await page.getByTestId("new-computer").selectOption("alpha")
        await page.getByTestId("new-project").fill("not/absolute")
        await page.getByTestId("new-submit").click()
      })
      yield* waitFor(page, '[data-testid="error"]')
      expect(yield* Effect.promise(() => page.getByTestId("error-message").textContent())).toMatch(/absolute/)

      // A title is text, never markup.
      const title = "<b>agent</b> & co"
      yield* Effect.promise(async () => {
        await page.getByTestId("new-project").fill("")
        await page.getByTestId("new-title").fill(title)
        await page.getByTestId("new-command").fill("sh")
        await page.getByTestId("new-submit").click()
      })
      const card = page.locator('[data-testid="computer"][data-computer="alpha"] [data-testid="session"]')
        .filter({ hasText: title })
      yield* Effect.promise(() => card.waitFor())
      yield* waitFor(page, '[data-testid="error"]', "hidden")
      expect(yield* Effect.promise(() => card.getByTestId("session-title").textContent())).toBe(title)
      expect(yield* Effect.promise(() => card.locator("b").count())).toBe(0)

      yield* Effect.promise(async () => {
        await card.getByTestId("session-input").fill("echo hi-$((6*7))")
        await card.getByTestId("session-send").click()
        await card.getByTestId("session-output").filter({ hasText: "hi-42" }).waitFor()
      })
      mkdirSync(artifacts, { recursive: true })
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true }))

      yield* Effect.promise(async () => {
        await card.getByTestId("session-end").click()
        await card.waitFor({ state: "detached" })
      })

      // A computer that goes away stays on the page, as offline.
      yield* Scope.close(alphaScope, Exit.void)
      yield* waitFor(page, '[data-testid="computer"][data-computer="alpha"] [data-testid="computer-status"].offline')
      expect(errors).toEqual([])
    }))

  it.scopedLive("the Preparation view lists projects and the status of each todo", () =>
    Effect.gen(function*() {
      const root = yield* tempDir("tf-dashboard")
      mkdirSync(join(root, "webapp", "todos"), { recursive: true })
      writeFileSync(join(root, "webapp", "todos", "roadmap.md"), "# webapp\n- [x] ship v1\n- [>] fix login\n- [ ] write docs\n")
      const solo = yield* startDaemon("solo", Option.none(), { projects: [root] })
      const browser = yield* launchBrowser
      const { page, errors } = yield* openPage(browser, solo.httpUrl(`/?token=${TEST_TOKEN}`))
      yield* waitFor(page, live)

      yield* Effect.promise(() => page.getByTestId("tab-preparation").click())
      yield* waitFor(page, '[data-testid="prep-project"] [data-testid="todo"][data-slug="fix-login"][data-status="in_progress"]')
      const todos = yield* Effect.promise(() =>
        page.getByTestId("todo").evaluateAll((items) =>
          items.map((item) => [item.getAttribute("data-status"), item.querySelector("[data-testid=todo-title]")?.textContent])
        ))
      expect(todos).toEqual([["done", "ship v1"], ["in_progress", "fix login"], ["pending", "write docs"]])
      expect(yield* Effect.promise(() => page.getByTestId("sessions-view").isHidden())).toBe(true)
      expect(errors).toEqual([])
    }))

  it.scopedLive("shows that it is reconnecting while the daemon restarts, then is live again with fresh state", () =>
    Effect.gen(function*() {
      const { run, url } = yield* restartable

      const first = yield* run
      const browser = yield* launchBrowser
      const { page, errors } = yield* openPage(browser, `${url}/?token=${TEST_TOKEN}`)
      yield* waitFor(page, live)

      yield* Scope.close(first, Exit.void)
      yield* waitFor(page, '[data-testid="connection"][data-state="reconnecting"]')
      expect(yield* Effect.promise(() => page.getByTestId("connection").textContent())).toBe("reconnecting…")
      yield* waitFor(page, '[data-testid="computer"][data-computer="solo"] [data-testid="computer-status"].offline')

      yield* run
      yield* waitFor(page, live)
      yield* Effect.promise(() =>
        fetch(`${url}/sessions`, {
          method: "POST",
          headers: { authorization: `Bearer ${TEST_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ title: "after-restart", command: "sh" })
        }))
      yield* waitFor(page, '[data-testid="session-title"]:text-is("after-restart")')
      expect(errors).toEqual([])
    }))

  it.scopedLive("serves the bundled page from this origin only: hashed scripts and styles kept for good, the page revalidated, all behind the token", () =>
    Effect.gen(function*() {
      const solo = yield* startDaemon("solo", Option.none())
      const browser = yield* launchBrowser
      const { page, response, errors } = yield* openPage(browser, solo.httpUrl(`/?token=${TEST_TOKEN}`))
      yield* waitFor(page, live)
      expect(response?.headers()["cache-control"]).toBe("no-cache")

      const origin = new URL(solo.httpUrl("/")).origin
      const loaded = yield* Effect.promise(() =>
        page.evaluate(() => performance.getEntriesByType("resource").map((entry) => entry.name))
      )
      expect(loaded.length).toBeGreaterThanOrEqual(2)
      expect(loaded.filter((url) => new URL(url).origin !== origin)).toEqual([])
      const script = yield* Effect.promise(() => page.locator("script[type=module]").getAttribute("src"))
      const style = yield* Effect.promise(() => page.locator("link[rel=stylesheet]").getAttribute("href"))
      expect(script).toMatch(/^\/dashboard\/main-[A-Z0-9]+\.js$/)
      expect(style).toMatch(/^\/dashboard\/main-[A-Z0-9]+\.css$/)

      const get = (path: string, headers: Record<string, string>) =>
        Effect.promise(() => fetch(solo.httpUrl(path), { headers }))
      // Source maps are read from disk when asked for (not held by the daemon), served like the rest.
      for (const [path, type] of [[script, "text/javascript"], [style, "text/css"], [`${script}.map`, "application/json"]] as const) {
        const answer = yield* get(path ?? "", solo.authHeaders)
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toContain(type)
        expect(answer.headers.get("cache-control")).toContain("immutable")
        expect(answer.headers.get("content-security-policy")).toContain("script-src 'self'")
        expect(answer.headers.get("x-content-type-options")).toBe("nosniff")
        expect((yield* get(path ?? "", {})).status).toBe(401)
      }
      expect((yield* get("/dashboard/main-NOSUCHFILE.js", solo.authHeaders)).status).toBe(404)
      expect(errors).toEqual([])
    }))

  it.scopedLive("gives up a connection a starting daemon took but never answered, and connects again", () =>
    Effect.gen(function*() {
      const { port, run, url } = yield* restartable
      const first = yield* run
      const browser = yield* launchBrowser
      const { page, errors } = yield* openPage(browser, `${url}/?token=${TEST_TOKEN}`)
      yield* waitFor(page, live)
      yield* Scope.close(first, Exit.void)
      yield* waitFor(page, '[data-testid="connection"][data-state="reconnecting"]')

      // Something takes the page's next connection and never answers it; it
      // then stops listening but holds that connection open, and the daemon
      // starts again on the port.
      const held: Array<Socket> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => held.forEach((socket) => socket.destroy())))
      yield* Effect.async<void>((resume) => {
        const silent = createNetServer((socket) => {
          held.push(socket)
          // Stops listening; the connection it took stays open.
          silent.close()
          setImmediate(() => resume(Effect.void))
        })
        silent.listen(port, "127.0.0.1")
      })
      yield* run
      yield* waitFor(page, live)
      expect(held.length).toBe(1)
      expect(errors).toEqual([])
    }))
})
