/**
 * The web dashboard: `GET /` and its script and style sheet, embedded in the
 * code so nothing needs building or copying. The script is a separate file
 * so the Content-Security-Policy allows scripts and styles from this origin
 * only: a terminal's title or output can never run as code in the page.
 */
import { HttpLayerRouter, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { css, html } from "./page.js"
import { script } from "./script.js"

const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const headers = {
  "content-security-policy": contentSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // A daemon upgraded in place serves its new script at once.
  "cache-control": "no-cache"
}

const asset = (body: string, contentType: string) =>
  Effect.succeed(HttpServerResponse.text(body, { contentType: `${contentType}; charset=utf-8`, headers }))

export const DashboardRoute = HttpLayerRouter.use((router) =>
  Effect.all([
    router.add("GET", "/", asset(html, "text/html")),
    router.add("GET", "/dashboard.js", asset(script, "text/javascript")),
    router.add("GET", "/dashboard.css", asset(css, "text/css"))
  ], { discard: true })
)
