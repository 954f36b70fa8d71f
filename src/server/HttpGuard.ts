/**
 * Checks every HTTP request before it reaches a route. Whoever talks to the
 * daemon can type into its terminals, so:
 * - the `Host` must be a name of this daemon (`Host.ts`: DNS rebinding);
 * - the token is required everywhere: `Authorization: Bearer <token>`, the
 *   same-site cookie the dashboard gets, or `?token=` (the URL the daemon
 *   prints; it is swapped for the cookie at once); a hook call may present
 *   its session's hook credential instead (`HookCredential.ts`), good there
 *   and nowhere else;
 * - writes and WebSocket upgrades from another origin are refused, so a page
 *   of another site open in the user's browser cannot reach the daemon;
 * - bodies are bounded and must be JSON: a bad one is a 4xx with a message;
 * - writes are rate-limited, so a runaway script cannot flood the terminals;
 *   hook calls have a bucket of their own, so busy agents and the user's
 *   typing (answering them, say) never take each other's turn.
 */
import { HttpIncomingMessage, HttpLayerRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { hookCredential } from "../agent/HookCredential.js"
import { DaemonConfig } from "../config/DaemonConfig.js"
import { Stats } from "../runtime/Stats.js"
import { hostCheck } from "./Host.js"
import { originAllowed } from "./Origin.js"
import { fullBucket, type Rate, take } from "./RateLimit.js"

export const TOKEN_COOKIE = "termfleet_token"

const refuse = (status: number, tag: string, message: string) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status })

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Constant-time: hashing first makes the lengths equal, so nothing leaks through timing. */
export const tokenMatches = (expected: string, given: string | undefined): boolean =>
  given !== undefined && timingSafeEqual(digest(expected), digest(given))

/** The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` are one. */
const bearer = (header: string | undefined) => {
  const match = header === undefined ? null : /^bearer +(.*)$/i.exec(header)
  return match === null ? undefined : match[1]!.trim()
}

/**
 * Where the token swap sends the browser: the same path, as a path of this
 * daemon. The URL parser turns `/.//evil.example/x` into the path
 * `//evil.example/x`, which as a Location is another host.
 */
const ownPath = (url: URL) => `/${url.pathname.replace(/^\/+/, "")}${url.search}`

/**
 * `POST /hooks/:agent`, read off the URL as the router reads it (not
 * normalised), so what passes here as a hook call is routed as one.
 */
const isHookCall = (request: HttpServerRequest.HttpServerRequest) =>
  request.method === "POST" && /^\/hooks\/[a-z]+(\?|$)/.test(request.url)

/** Takes from a bucket of `rate` of its own: answers how long to wait (ms), 0 when taken. */
const limiter = (rate: Rate) =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let bucket = fullBucket(rate, start)
    return Effect.map(Clock.currentTimeMillis, (now) => {
      const taken = take(rate, bucket, now)
      bucket = taken.bucket
      return taken.waitMillis
    })
  })

const hasBody = (method: string) => method === "POST" || method === "PUT" || method === "PATCH"

export const HttpGuard = HttpLayerRouter.middleware(
  Effect.gen(function*() {
    const config = yield* DaemonConfig
    const { limits } = config
    const token = Redacted.value(config.token)
    const { address } = yield* HttpServer.HttpServer
    const hosts = hostCheck(config.host, address._tag === "TcpAddress" ? address.port : 0, Option.getOrUndefined(config.publicUrl))
    const stats = yield* Stats
    /** Every hook call, taken or refused (token, body, session), is counted for /health. */
    const countHooks = <E, R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        request.url.startsWith("/hooks/")
          ? Effect.tap(effect, (response) => stats.add(response.status < 300 ? "hooksIn" : "hooksRefused"))
          : effect)
    const admitWrite = yield* limiter({ perSecond: limits.writesPerSecond, burst: limits.writeBurst })
    const admitHook = yield* limiter({ perSecond: limits.hooksPerSecond, burst: limits.hookBurst })
    return (app) => Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!hosts.allowed(request.headers["host"])) {
        return refuse(403, "Forbidden", `the Host header ${JSON.stringify(request.headers["host"] ?? "")} is not a name of this daemon (it answers to ${hosts.described}); requests to other names are refused, against DNS rebinding`)
      }
      const url = new URL(request.url, "http://termfleet")
      const fromQuery = url.searchParams.get("token") ?? undefined

      const presented = bearer(request.headers["authorization"]) ?? request.cookies[TOKEN_COOKIE] ?? fromQuery
      const hookCall = isHookCall(request)
      const hookSession = hookCall ? request.headers["x-termfleet-session"] : undefined
      const admitted = tokenMatches(token, presented) ||
        (hookSession !== undefined && tokenMatches(hookCredential(token, hookSession), presented))
      if (!admitted) {
        return refuse(401, "Unauthorized", "a valid token is required: open the URL the daemon printed, or send 'Authorization: Bearer <token>' (the token is in the daemon's state folder)")
      }
      const writes = request.method !== "GET" && request.method !== "HEAD"
      const upgrade = request.headers["upgrade"]?.toLowerCase() === "websocket"
      if ((writes || upgrade) && !originAllowed(request.headers["origin"], request.headers["host"])) {
        return refuse(403, "Forbidden", "requests from another origin are refused")
      }
      if (writes) {
        const waitMillis = yield* (hookCall ? admitHook : admitWrite)
        if (waitMillis > 0) {
          const most = hookCall ? `${limits.hooksPerSecond} hook calls` : `${limits.writesPerSecond} writes`
          return refuse(429, "TooManyRequests", `at most ${most} per second`).pipe(
            HttpServerResponse.setHeader("retry-after", String(Math.ceil(waitMillis / 1000)))
          )
        }
      }
      if (fromQuery !== undefined && request.method === "GET" && !upgrade) {
        // Swap the token in the URL for a cookie, so it leaves the address bar and history.
        url.searchParams.delete("token")
        return HttpServerResponse.empty({ status: 303, headers: { location: ownPath(url) } }).pipe(
          HttpServerResponse.unsafeSetCookie(TOKEN_COOKIE, token, { httpOnly: true, sameSite: "strict", path: "/" })
        )
      }
      if (!hasBody(request.method)) return yield* app
      const tooLarge = refuse(413, "PayloadTooLarge", `request bodies are limited to ${limits.maxBodyBytes} bytes`)
      const length = request.headers["content-length"]
      // Bodies are small JSON: asking for their length up front means an
      // oversize one is refused before it is read, with an answer.
      if (length === undefined && request.headers["transfer-encoding"] !== undefined) {
        return refuse(411, "LengthRequired", "write requests must carry a Content-Length")
      }
      if (Number(length ?? 0) > limits.maxBodyBytes) return tooLarge
      const text = yield* HttpIncomingMessage.withMaxBodySize(request.text, Option.some(limits.maxBodyBytes)).pipe(
        Effect.option
      )
      if (Option.isNone(text)) return tooLarge
      if (text.value.length > 0) {
        try {
          JSON.parse(text.value)
        } catch {
          return refuse(400, "InvalidInput", "the request body is not valid JSON")
        }
      }
      return yield* app
    }).pipe(countHooks)
  }),
  { global: true }
)
