/**
 * Debian's chromium driven by playwright-core. A missing browser fails the
 * test with what to install: a browser test that silently skips proves nothing.
 */
import { Effect, type Scope } from "effect"
import { existsSync } from "node:fs"
import { type Browser, chromium, type Page } from "playwright-core"

export const CHROMIUM = "/usr/bin/chromium"

export const launchBrowser: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install chromium)`)
    }
    // launch() gives each browser a fresh temporary profile.
    return chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  }),
  (browser) => Effect.promise(() => browser.close())
)

/** A page that records its uncaught exceptions and Content-Security-Policy violations in `errors`. */
export const openPage = (browser: Browser, url: string) =>
  Effect.promise(async () => {
    const page: Page = await browser.newPage()
    const errors: Array<string> = []
    page.on("pageerror", (error) => errors.push(error.message))
    page.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) errors.push(message.text())
    })
    const response = await page.goto(url).catch((error: Error) => {
      throw new Error(`the dashboard did not load from ${url}: ${error.message}`)
    })
    return { page, response, errors }
  })

/** Screen lines as one text, trailing blanks and blank lines at the end dropped. */
export const trimScreen = (lines: ReadonlyArray<string>) => {
  const trimmed = lines.map((line) => line.trimEnd())
  while (trimmed.length > 0 && trimmed.at(-1) === "") trimmed.pop()
  return trimmed.join("\n")
}

/** A dashboard terminal's xterm screen as text: one line per row, trailing blanks and blank rows at the end dropped. */
export const screenOf = (page: Page, sessionId: string) =>
  Effect.promise(() =>
    page.locator(`[data-testid="terminal"][data-session-id="${sessionId}"] .xterm-rows > div`).allTextContents()
  ).pipe(Effect.map((rows) => trimScreen(rows.map((row) => row.replaceAll("\u00a0", " ")))))
