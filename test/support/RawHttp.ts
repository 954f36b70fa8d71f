/**
 * HTTP(S) and WebSocket requests with nothing added behind the test's back:
 * `node:http` sends exactly the headers given (fetch may add its own, and
 * follows redirects), and a refused WebSocket upgrade is answered as its
 * status and body instead of an error.
 */
import { Effect, type Scope } from "effect"
import { request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import WebSocket from "ws"

export interface RawResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly text: string
  /** The body parsed as JSON, or `undefined` when it is not JSON. */
  readonly json: any
}

export interface RawRequest {
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Buffer
  /** Sends the body with `Transfer-Encoding: chunked`, so the server cannot see its size up front. */
  readonly chunked?: boolean
  /** Sent as written, instead of the URL's path (which is normalised: `/./` and `/../` are resolved). */
  readonly path?: string
  /** For an `https:` URL: the one authority trusted, and the name the certificate must carry (else the URL's host). */
  readonly ca?: string
  readonly servername?: string
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export const raw = (url: string, options: RawRequest = {}): Effect.Effect<RawResponse, Error> =>
  Effect.async((resume) => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.body !== undefined && !options.chunked) headers["content-length"] = String(Buffer.byteLength(options.body))
    const path = options.path === undefined ? {} : { path: options.path }
    const tls = { ...(options.ca === undefined ? {} : { ca: options.ca }), ...(options.servername === undefined ? {} : { servername: options.servername }) }
    const request = url.startsWith("https:") ? httpsRequest : httpRequest
    const req = request(url, { method: options.method ?? "GET", headers, agent: false, ...path, ...tls }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) }))
      })
      res.on("error", (error) => resume(Effect.fail(error)))
    })
    // A server refusing a body early may reset the connection while it is still being written;
    // the answer, if one came, has already been taken.
    req.on("error", (error) => resume(Effect.fail(error)))
    if (options.body !== undefined) {
      if (options.chunked) {
        // Several writes, so the body goes out in chunks.
        const body = Buffer.from(options.body)
        for (let at = 0; at < body.length; at += 4096) req.write(body.subarray(at, at + 4096))
      } else {
        req.write(options.body)
      }
    }
    req.end()
  })

export const json = (body: unknown): string => JSON.stringify(body)

export type UpgradeOutcome =
  | { readonly _tag: "opened"; readonly socket: WebSocket }
  | { readonly _tag: "refused"; readonly status: number; readonly body: string }

/**
 * Tries a WebSocket upgrade: `opened` (the socket is closed with the scope),
 * or `refused` with the HTTP status and body the daemon answered instead.
 */
export const tryUpgrade = (
  url: string,
  headers: Readonly<Record<string, string>> = {}
): Effect.Effect<UpgradeOutcome, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<UpgradeOutcome, Error>((resume) => {
      const socket = new WebSocket(url, { headers: { ...headers } })
      socket.once("open", () => resume(Effect.succeed({ _tag: "opened", socket })))
      socket.once("unexpected-response", (_req, res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          socket.terminate()
          resume(Effect.succeed({ _tag: "refused", status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
        })
      })
      socket.once("error", (error) => resume(Effect.fail(error)))
    }),
    (outcome) => Effect.sync(() => (outcome._tag === "opened" ? outcome.socket.terminate() : undefined))
  )

/** The `name=value` part and the attributes of a Set-Cookie header, attributes lower-cased. */
export const parseSetCookie = (header: string) => {
  const [pair = "", ...attributes] = header.split(";").map((part) => part.trim())
  const at = pair.indexOf("=")
  return {
    name: pair.slice(0, at),
    value: pair.slice(at + 1),
    pair,
    attributes: attributes.map((attribute) => attribute.toLowerCase())
  }
}

export interface ClosedSession {
  /** The frames received, parsed as JSON. */
  readonly frames: ReadonlyArray<{ readonly event: string; readonly data: any }>
  readonly code: number
}

/**
 * Connects and collects every frame until the daemon closes the connection,
 * within `within`; a connection that is never answered or never closed fails
 * with `what`, and is dropped (interruptible, unlike `connectWs`).
 */
export const untilClosed = (
  url: string,
  what: string,
  within: `${number} seconds` = "10 seconds"
): Effect.Effect<ClosedSession, Error> =>
  Effect.suspend(() => {
    const frames: Array<{ event: string; data: any }> = []
    let opened = false
    return Effect.async<ClosedSession, Error>((resume) => {
      const socket = new WebSocket(url)
      socket.on("open", () => void (opened = true))
      socket.on("message", (data) => frames.push(JSON.parse(data.toString())))
      socket.on("close", (code) => resume(Effect.succeed({ frames, code })))
      socket.once("unexpected-response", (_req, res) => resume(Effect.fail(new Error(`${what}: HTTP ${res.statusCode}`))))
      socket.once("error", (error) => resume(Effect.fail(error)))
      return Effect.sync(() => {
        socket.removeAllListeners()
        socket.on("error", () => {})
        socket.terminate()
      })
    }).pipe(
      Effect.timeoutFail({
        duration: within,
        onTimeout: () =>
          new Error(
            `${what}: not closed within ${within}; ` +
              (opened ? `opened, frames: ${JSON.stringify(frames)}` : "the upgrade was never answered (no 101, no HTTP error)")
          )
      })
    )
  })
