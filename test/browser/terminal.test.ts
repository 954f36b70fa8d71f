/**
 * A session opened from the dashboard as a live terminal (xterm.js), in
 * Debian's chromium: what the page's terminal shows is what tmux shows, and
 * what is typed in the page arrives in the pane, control keys included; the
 * same for a session of another computer (two daemons, real Redis), with a
 * full-screen program.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { Page } from "playwright-core"
import { launchBrowser, openPage, screenOf, trimScreen } from "../support/Browser.js"
import { pollUntil } from "../support/Poll.js"
import { existsSync } from "node:fs"
import { newSession, tmuxTarget } from "../support/Panes.js"
import { uniquePrefix, useRedis } from "../support/RedisServer.js"
import { startDaemon, startFleetDaemon, TEST_TOKEN } from "../support/TestDaemon.js"
import { tmuxCli } from "../support/TmuxServer.js"

/**
 * Waits until tmux's screen shows `shows` and the page's screen is that same
 * screen, both read in each look, and answers it. A screen captured once and
 * waited for may be a program's drawing half done (vim writes its screen in
 * several pieces, the shell its prompt after the output), which the page,
 * given the pieces together, never shows.
 */
const sameScreens = <E, R>(capture: Effect.Effect<string, E, R>, page: Page, sessionId: string, shows: string, what: string) =>
  pollUntil(
    Effect.all([capture, screenOf(page, sessionId)]),
    ([tmuxScreen, pageScreen]) => tmuxScreen.includes(shows) && pageScreen === tmuxScreen,
    what
  ).pipe(Effect.map(([tmuxScreen]) => tmuxScreen))

const redisUrl = useRedis()

/** vim, or where it is missing a small full-screen program of its own kind: the alternate screen, left with its own key. */
const FULL_SCREEN = existsSync("/usr/bin/vim")
  ? { run: "vim -u NONE -N", shows: "~", quit: ["Escape", ":q!", "Enter"] }
  : {
    run: `sh -c 'printf "\\033[?1049h\\033[2J\\033[5;5Hfull-screen, q quits"; stty raw -echo; dd bs=1 count=1 2>/dev/null; stty sane; printf "\\033[?1049l"'`,
    shows: "full-screen, q quits",
    quit: ["q"]
  }

describe("dashboard terminals", () => {
  it.scopedLive("a session opened as a terminal shows what tmux shows, takes typed keys, Enter and Ctrl-C, and catches up by itself after a lost connection", () =>
    Effect.gen(function*() {
      const daemon = yield* startDaemon("solo", Option.none())
      const created = yield* Effect.promise(() =>
        fetch(daemon.httpUrl("/sessions"), {
          method: "POST",
          headers: { ...daemon.authHeaders, "content-type": "application/json" },
          body: JSON.stringify({ title: "term", command: "sh" })
        }).then((response) => response.json() as Promise<{ sessionId: string }>)
      )
      const { sessionId } = created
      const pane = yield* pollUntil(
        tmuxCli(daemon.settings.tmuxSocket, "list-panes", "-a", "-F", "#{pane_id} #{@tf_id}"),
        (listing) => listing.includes(` ${sessionId}`),
        "the session's tmux pane"
      ).pipe(Effect.map((listing) => listing.split("\n").find((line) => line.endsWith(` ${sessionId}`))?.split(" ")[0] ?? ""))
      const capture = tmuxCli(daemon.settings.tmuxSocket, "capture-pane", "-p", "-t", pane).pipe(Effect.map((text) => trimScreen(text.split("\n"))))

      const browser = yield* launchBrowser
      const { page, errors } = yield* openPage(browser, daemon.httpUrl(`/?token=${TEST_TOKEN}`))
      yield* Effect.promise(() => page.locator(`[data-testid="session"][data-session-id="${sessionId}"] [data-testid="session-open"]`).click())
      const terminal = page.locator(`[data-testid="terminal"][data-session-id="${sessionId}"]`)
      yield* Effect.promise(() => terminal.and(page.locator('[data-state="live"]')).waitFor())
      expect(yield* Effect.promise(() => page.getByTestId("sessions-view").isHidden())).toBe(true)
      expect(yield* Effect.promise(() => page.locator(`[data-testid="terminal-tab"][data-session-id="${sessionId}"]`).textContent())).toContain("term")

      const type = (text: string) => Effect.promise(() => page.keyboard.type(text))
      const press = (key: string) => Effect.promise(() => page.keyboard.press(key))
      const screenShows = (text: string, what: string) => pollUntil(screenOf(page, sessionId), (screen) => screen.includes(text), what)
      yield* Effect.promise(() => terminal.click())

      // Typed into cat: the tty echoes the line and cat prints it again.
      yield* type("cat")
      yield* press("Enter")
      yield* type("hello-term")
      yield* press("Enter")
      yield* pollUntil(screenOf(page, sessionId), (screen) => screen.split("hello-term").length === 3, "the line echoed and printed by cat")
      // Ctrl-C ends cat, then sleep; only then does the shell run the echo.
      yield* press("Control+C")
      yield* type("sleep 100")
      yield* press("Enter")
      yield* press("Control+C")
      yield* type("echo done-$((6*7))")
      yield* press("Enter")
      yield* screenShows("\ndone-42", "the echo after Ctrl-C ended sleep")

      // The page's screen is tmux's screen.
      yield* sameScreens(capture, page, sessionId, "\ndone-42", "the page's screen equal to tmux's")

      // The connection drops and stays down while the pane writes more; once the
      // page is back it attaches again from where it was and shows what it missed.
      yield* Effect.promise(() => page.context().setOffline(true))
      yield* daemon.hub.closeAll
      yield* Effect.promise(() => terminal.and(page.locator('[data-state="attaching"]')).waitFor())
      yield* tmuxCli(daemon.settings.tmuxSocket, "send-keys", "-t", pane, "-l", "echo missed-$((2*3))")
      yield* tmuxCli(daemon.settings.tmuxSocket, "send-keys", "-t", pane, "Enter")
      yield* pollUntil(capture, (text) => text.includes("\nmissed-6"), "tmux's screen with the output typed meanwhile")
      expect(yield* screenOf(page, sessionId)).not.toContain("missed-6")
      yield* Effect.promise(() => page.context().setOffline(false))
      yield* sameScreens(capture, page, sessionId, "\nmissed-6", "the page's screen caught up with tmux's")
      yield* type("echo back-$((3*3))")
      yield* press("Enter")
      yield* screenShows("\nback-9", "typing after the reconnection")

      // Closing the tab detaches and goes back to the sessions.
      yield* Effect.promise(() => page.locator(`[data-testid="terminal-tab"][data-session-id="${sessionId}"] [data-testid="terminal-close"]`).click())
      yield* Effect.promise(() => terminal.waitFor({ state: "detached" }))
      expect(yield* Effect.promise(() => page.getByTestId("sessions-view").isVisible())).toBe(true)
      expect(errors).toEqual([])
    }))

  it.scopedLive("beta's dashboard opens a session of alpha as a terminal: keys arrive, a full-screen program shows and quits", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("browser-remote")
      const alpha = yield* startFleetDaemon(redisUrl(), "alpha", { prefix })
      const beta = yield* startFleetDaemon(redisUrl(), "beta", { prefix })
      const sessionId = yield* newSession(alpha, "sh")
      const target = yield* tmuxTarget(alpha, sessionId)
      const capture = tmuxCli(alpha.settings.tmuxSocket, "capture-pane", "-p", "-t", target).pipe(Effect.map((text) => trimScreen(text.split("\n"))))

      const browser = yield* launchBrowser
      const { page, errors } = yield* openPage(browser, beta.httpUrl(`/?token=${TEST_TOKEN}`))
      yield* Effect.promise(() => page.locator(`[data-testid="session"][data-session-id="${sessionId}"] [data-testid="session-open"]`).click())
      const terminal = page.locator(`[data-testid="terminal"][data-session-id="${sessionId}"]`)
      yield* Effect.promise(() => terminal.and(page.locator('[data-state="live"]')).waitFor())
      yield* Effect.promise(() => terminal.click())
      const type = (text: string) => Effect.promise(() => page.keyboard.type(text))
      const press = (key: string) => Effect.promise(() => page.keyboard.press(key))
      const sameAsAlpha = (shows: string) => sameScreens(capture, page, sessionId, shows, `the page's screen equal to alpha's, showing ${shows}`)

      yield* type("echo typed-on-beta-$((6*7))")
      yield* press("Enter")
      yield* sameAsAlpha("\ntyped-on-beta-42")

      yield* type(FULL_SCREEN.run)
      yield* press("Enter")
      yield* sameAsAlpha(FULL_SCREEN.shows)
      for (const key of FULL_SCREEN.quit) yield* (key.length === 1 || key.startsWith(":") ? type(key) : press(key))
      // Keys typed while the program is still leaving may be read (and dropped) by it:
      // type only once the shell, back on the normal screen, shows its prompt again.
      yield* pollUntil(
        capture,
        (text) => text.includes("typed-on-beta-42") && /^[$#]$/.test(text.split("\n").at(-1) ?? ""),
        "alpha's shell prompt after the full-screen program"
      )
      yield* type("echo after-full-screen")
      yield* press("Enter")
      const back = yield* sameAsAlpha("\nafter-full-screen")
      expect(back).toContain("typed-on-beta-42")
      expect(errors).toEqual([])
    }), 60_000)
})
