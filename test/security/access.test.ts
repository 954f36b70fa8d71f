/**
 * Who may talk to a daemon: the token (Bearer header, the same-site cookie,
 * or `?token=` swapped for that cookie) on every route and on WebSocket
 * upgrades, and the Origin check on writes and upgrades, so a page of
 * another site open in the user's browser cannot reach the terminals.
 *
 * In-process daemons (`startDaemon`, the production Layer graph) on real
 * sockets; requests go through `node:http`, so only the headers written here
 * are sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { hostname } from "node:os"
import { TOKEN_COOKIE } from "../../src/server/HttpGuard.js"
import { json, parseSetCookie, raw, type RawResponse, tryUpgrade } from "../support/RawHttp.js"
import { startDaemon, TEST_TOKEN, type TestDaemon } from "../support/TestDaemon.js"
import { tmuxCli } from "../support/TmuxServer.js"

const solo = startDaemon("sec", Option.none())

/** Every kind of route: reads, the dashboard, writes with and without a body. */
const routes: ReadonlyArray<{ readonly method: string; readonly path: string; readonly body?: string }> = [
  { method: "GET", path: "/sessions" },
  { method: "GET", path: "/health" },
  { method: "GET", path: "/" },
  { method: "POST", path: "/sessions", body: JSON.stringify({ title: "nope", command: "cat" }) },
  { method: "DELETE", path: "/sessions/x" }
]

const WRONG_TOKENS: ReadonlyArray<readonly [string, string]> = [
  ["a different token", "not-the-token-at-all-0000000"],
  ["a prefix of the token", TEST_TOKEN.slice(0, -1)],
  ["the token and one more character", `${TEST_TOKEN}x`],
  ["the token in another case", TEST_TOKEN.toUpperCase()],
  ["an empty token", ""]
]

/** The three ways a token can be presented, as headers and a URL suffix. */
const presentations = (token: string): ReadonlyArray<readonly [string, Record<string, string>, string]> => [
  ["Bearer header", { authorization: `Bearer ${token}` }, ""],
  ["cookie", { cookie: `${TOKEN_COOKIE}=${token}` }, ""],
  ["?token=", {}, `?token=${encodeURIComponent(token)}`]
]

const withQuery = (path: string, query: string) => (query === "" ? path : `${path}${path.includes("?") ? "&" : "?"}${query.slice(1)}`)

const expectUnauthorized = (what: string, response: RawResponse) => {
  expect({ what, status: response.status }).toEqual({ what, status: 401 })
  expect({ what, message: response.json?.message }).toEqual({ what, message: expect.stringMatching(/token/) })
}

const tmuxSessionNames = (socket: string) =>
  tmuxCli(socket, "list-sessions", "-F", "#{session_name}").pipe(
    Effect.map((out) => out.split("\n").filter((line) => line !== "")),
    // No server (nothing was ever created) is no sessions.
    Effect.catchAll(() => Effect.succeed<ReadonlyArray<string>>([]))
  )

const sessionsOf = (daemon: TestDaemon) =>
  Effect.map(raw(daemon.httpUrl("/sessions"), { headers: daemon.authHeaders }), (r) => r.json as ReadonlyArray<{ title: string }>)

describe("token", () => {
  it.scopedLive("no token: 401 with a message on every route and on a WebSocket upgrade", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const { method, path, body } of routes) {
        const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json" }
        expectUnauthorized(`${method} ${path}`, yield* raw(daemon.httpUrl(path), { method, headers, ...(body ? { body } : {}) }))
      }
      const upgrade = yield* tryUpgrade(daemon.httpUrl("/ws").replace("http:", "ws:"))
      expect(upgrade._tag).toBe("refused")
      if (upgrade._tag === "refused") {
        expect(upgrade.status).toBe(401)
        expect(JSON.parse(upgrade.body).message).toMatch(/token/)
      }
      // Nothing reached tmux.
      expect(yield* tmuxSessionNames(daemon.settings.tmuxSocket)).toEqual([])
      expect(yield* sessionsOf(daemon)).toEqual([])
    }))

  it.scopedLive("wrong token (other, prefix, one char more, other case, empty) by header, cookie or ?token=: 401, upgrade refused", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const [kind, token] of WRONG_TOKENS) {
        for (const [how, headers, query] of presentations(token)) {
          for (const { method, path, body } of routes) {
            const response = yield* raw(daemon.httpUrl(withQuery(path, query)), {
              method,
              headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
              ...(body ? { body } : {})
            })
            expectUnauthorized(`${kind} by ${how}: ${method} ${path}`, response)
          }
          const upgrade = yield* tryUpgrade(`${daemon.httpUrl("/ws").replace("http:", "ws:")}${query}`, headers)
          expect({ kind, how, upgrade: upgrade._tag === "refused" ? upgrade.status : "opened" })
            .toEqual({ kind, how, upgrade: 401 })
        }
      }
      expect(yield* tmuxSessionNames(daemon.settings.tmuxSocket)).toEqual([])
    }))

  it.scopedLive("the right token by header, cookie and ?token= is accepted, on reads, writes and upgrades", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const [how, headers, query] of presentations(TEST_TOKEN)) {
        // ?token= on a GET is swapped for the cookie first (303): asked without following it here.
        const health = yield* raw(daemon.httpUrl(withQuery("/health", query)), { headers })
        expect({ how, status: health.status }).toEqual({ how, status: query === "" ? 200 : 303 })
        const deleted = yield* raw(daemon.httpUrl(withQuery("/sessions/x", query)), { method: "DELETE", headers })
        // Past the guard: the route answers that there is no such session.
        expect({ how, status: deleted.status }).toEqual({ how, status: 404 })
        const upgrade = yield* tryUpgrade(`${daemon.httpUrl("/ws").replace("http:", "ws:")}${query}`, headers)
        expect({ how, upgrade: upgrade._tag }).toEqual({ how, upgrade: "opened" })
      }
    }))

  it.scopedLive("?token= on GET / is swapped for an HttpOnly, SameSite=Strict cookie (303 to /); the cookie then authorises", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      const swapped = yield* raw(daemon.httpUrl(`/?token=${encodeURIComponent(TEST_TOKEN)}`))
      expect(swapped.status).toBe(303)
      expect(swapped.headers["location"]).toBe("/")
      const setCookie = swapped.headers["set-cookie"]
      expect(setCookie).toHaveLength(1)
      const cookie = parseSetCookie(setCookie![0]!)
      expect(cookie).toMatchObject({ name: TOKEN_COOKIE, value: TEST_TOKEN })
      expect(cookie.attributes).toEqual(expect.arrayContaining(["httponly", "samesite=strict", "path=/"]))
      // Not readable from scripts, not sent cross-site, and nothing else (Domain would widen it).
      expect(cookie.attributes.some((a) => a.startsWith("domain="))).toBe(false)

      // Other query parameters survive the swap.
      const sessionsSwap = yield* raw(daemon.httpUrl(`/sessions?computer=sec&token=${encodeURIComponent(TEST_TOKEN)}`))
      expect(sessionsSwap.status).toBe(303)
      expect(sessionsSwap.headers["location"]).toBe("/sessions?computer=sec")

      const headers = { cookie: cookie.pair }
      const page = yield* raw(daemon.httpUrl("/"), { headers })
      expect(page.status).toBe(200)
      expect(page.headers["content-type"]).toMatch(/text\/html/)
      const sessions = yield* raw(daemon.httpUrl("/sessions"), { headers })
      expect(sessions.status).toBe(200)
      expect(sessions.json).toEqual([])
      const upgrade = yield* tryUpgrade(daemon.httpUrl("/ws").replace("http:", "ws:"), headers)
      expect(upgrade._tag).toBe("opened")
    }))
})

describe("token details", () => {
  it.scopedLive("the Bearer scheme is case-insensitive (RFC 9110): bearer, BEARER, extra spaces; other schemes are 401", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const authorization of [`bearer ${TEST_TOKEN}`, `BEARER ${TEST_TOKEN}`, `bEaReR   ${TEST_TOKEN}`, `Bearer ${TEST_TOKEN} `]) {
        const health = yield* raw(daemon.httpUrl("/health"), { headers: { authorization } })
        expect({ authorization, status: health.status }).toEqual({ authorization, status: 200 })
        const upgrade = yield* tryUpgrade(daemon.httpUrl("/ws").replace("http:", "ws:"), { authorization })
        expect({ authorization, upgrade: upgrade._tag }).toEqual({ authorization, upgrade: "opened" })
      }
      for (const authorization of [`Basic ${TEST_TOKEN}`, `Bearer${TEST_TOKEN}`, `Token ${TEST_TOKEN}`, TEST_TOKEN]) {
        expectUnauthorized(authorization, yield* raw(daemon.httpUrl("/health"), { headers: { authorization } }))
      }
    }))

  it.scopedLive("the token swap redirects only to a path of this daemon, whatever the path looks like", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      const own = new URL(daemon.httpUrl("/")).origin
      const token = `token=${encodeURIComponent(TEST_TOKEN)}`
      for (const [path, expected] of [
        // The URL parser makes these the path `//evil.example/x`: a protocol-relative Location.
        [`/.//evil.example/x?${token}`, "/evil.example/x"],
        [`/..//evil.example/x?a=1&${token}`, "/evil.example/x?a=1"],
        [`/.///evil.example?${token}`, "/evil.example"],
        [`/%2F/evil.example?${token}`, "/%2F/evil.example"],
        [`/sessions?${token}`, "/sessions"]
      ] as const) {
        const swapped = yield* raw(daemon.httpUrl("/"), { path })
        const location = String(swapped.headers["location"])
        expect({ path, status: swapped.status, location }).toEqual({ path, status: 303, location: expected })
        // As a browser reads it: the same daemon.
        expect({ path, origin: new URL(location, own).origin }).toEqual({ path, origin: own })
      }
    }))
})

describe("Host (DNS rebinding)", () => {
  const port = (daemon: TestDaemon) => new URL(daemon.httpUrl("/")).port

  /** A GET, a write and an upgrade with this Host and the right token: their statuses. */
  const statusesWith = (daemon: TestDaemon, host: string) =>
    Effect.gen(function*() {
      const headers = { ...daemon.authHeaders, host }
      const read = yield* raw(daemon.httpUrl("/sessions"), { headers })
      const write = yield* raw(daemon.httpUrl("/sessions/x"), { method: "DELETE", headers })
      const upgrade = yield* tryUpgrade(daemon.wsUrl, { host })
      return {
        host,
        read: read.status,
        write: write.status,
        upgrade: upgrade._tag === "refused" ? upgrade.status : upgrade._tag,
        message: read.json?.message
      }
    })

  it.scopedLive("a request or upgrade naming another host is refused with 403 and a message, even with the token", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const host of [
        `evil.example:${port(daemon)}`,
        `127.0.0.1.evil.example:${port(daemon)}`,
        `localhost.evil.example:${port(daemon)}`,
        // The daemon's own names on another port (a proxy's, or a rebinding to another port).
        "127.0.0.1:1",
        `localhost:${Number(port(daemon)) + 1}`,
        // No port: the daemon does not listen on 80.
        "127.0.0.1",
        `user@127.0.0.1:${port(daemon)}`
      ]) {
        const statuses = yield* statusesWith(daemon, host)
        expect(statuses).toEqual({ host, read: 403, write: 403, upgrade: 403, message: expect.stringContaining("Host") })
        expect(statuses.message).toContain(`127.0.0.1:${port(daemon)}`)
      }
      expect(yield* daemon.hub.clientCount).toBe(0)
    }))

  it.scopedLive("the loopback names on the daemon's port are answered: 127.0.0.1, localhost, [::1], in any case", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const host of [`127.0.0.1:${port(daemon)}`, `localhost:${port(daemon)}`, `LocalHost:${port(daemon)}`, `[::1]:${port(daemon)}`]) {
        expect(yield* statusesWith(daemon, host)).toEqual({ host, read: 200, write: 404, upgrade: "opened", message: undefined })
      }
    }))

  it.scopedLive("the configured host is answered too; bound to every interface, so are IP addresses and the host name", () =>
    Effect.gen(function*() {
      const named = yield* startDaemon("sec", Option.none(), { host: "termfleet.test" })
      expect((yield* statusesWith(named, `termfleet.test:${port(named)}`)).read).toBe(200)
      expect((yield* statusesWith(named, `evil.example:${port(named)}`)).read).toBe(403)
      expect((yield* statusesWith(named, `192.168.1.20:${port(named)}`)).read).toBe(403)

      const everywhere = yield* startDaemon("sec", Option.none(), { host: "0.0.0.0" })
      for (const host of [`192.168.1.20:${port(everywhere)}`, `[fe80::1]:${port(everywhere)}`, `${hostname()}:${port(everywhere)}`]) {
        expect({ host, read: (yield* statusesWith(everywhere, host)).read }).toEqual({ host, read: 200 })
      }
      // A name is still one the daemon must know: any other may be a rebinding.
      expect((yield* statusesWith(everywhere, `evil.example:${port(everywhere)}`)).read).toBe(403)
    }))

  it.scopedLive("the public URL's host is answered as a browser opening it sends it (behind a proxy: its port, or none for the scheme's)", () =>
    Effect.gen(function*() {
      const proxied = yield* startDaemon("sec", Option.none(), { publicUrl: Option.some("https://fleet.example/") })
      for (const host of ["fleet.example", "Fleet.Example"]) {
        expect(yield* statusesWith(proxied, host)).toEqual({ host, read: 200, write: 404, upgrade: "opened", message: undefined })
      }
      for (const host of ["fleet.example.evil.example", `evil.example:${port(proxied)}`]) {
        expect({ host, read: (yield* statusesWith(proxied, host)).read }).toEqual({ host, read: 403 })
      }
      const onPort = yield* startDaemon("sec", Option.none(), { publicUrl: Option.some("http://laptop.example:8443/termfleet/") })
      expect((yield* statusesWith(onPort, "laptop.example:8443")).read).toBe(200)
      const refused = yield* statusesWith(onPort, "laptop.example")
      expect(refused.read).toBe(403)
      expect(refused.message).toContain("laptop.example:8443 (--public-url)")
    }))
})

describe("Origin", () => {
  const FOREIGN = [
    "https://evil.example",
    "null",
    // Same host name, another port: another origin.
    "http://127.0.0.1:1",
    "http://127.0.0.1.evil.example"
  ]

  it.scopedLive("a WebSocket upgrade from another origin is refused with 403, even with the right token", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const origin of FOREIGN) {
        const upgrade = yield* tryUpgrade(daemon.wsUrl, { origin })
        expect({ origin, upgrade: upgrade._tag === "refused" ? upgrade.status : "opened" }).toEqual({ origin, upgrade: 403 })
        if (upgrade._tag === "refused") expect(JSON.parse(upgrade.body).message).toEqual(expect.any(String))
      }
      // With the cookie (as a browser would send it to a cross-site WebSocket): still refused.
      const withCookie = yield* tryUpgrade(daemon.httpUrl("/ws").replace("http:", "ws:"), {
        origin: "https://evil.example",
        cookie: `${TOKEN_COOKIE}=${TEST_TOKEN}`
      })
      expect(withCookie._tag === "refused" ? withCookie.status : "opened").toBe(403)
      expect(yield* daemon.hub.clientCount).toBe(0)
    }))

  it.scopedLive("writes from another origin are refused with 403 even with the right token; nothing reaches tmux", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      for (const origin of FOREIGN) {
        const created = yield* raw(daemon.httpUrl("/sessions"), {
          method: "POST",
          headers: { ...daemon.authHeaders, origin, "content-type": "application/json" },
          body: json({ title: "csrf", command: "cat" })
        })
        expect({ origin, status: created.status }).toEqual({ origin, status: 403 })
        expect(created.json?.message).toEqual(expect.any(String))
        const ended = yield* raw(daemon.httpUrl("/sessions/x"), { method: "DELETE", headers: { ...daemon.authHeaders, origin } })
        expect({ origin, status: ended.status }).toEqual({ origin, status: 403 })
      }
      expect(yield* sessionsOf(daemon)).toEqual([])
      expect(yield* tmuxSessionNames(daemon.settings.tmuxSocket)).toEqual([])
    }))

  it.scopedLive("the daemon's own origin (http://127.0.0.1:<port>) may write and upgrade; reads ignore Origin", () =>
    Effect.gen(function*() {
      const daemon = yield* solo
      const origin = daemon.httpUrl("").replace(/\/$/, "")
      const created = yield* raw(daemon.httpUrl("/sessions"), {
        method: "POST",
        headers: { ...daemon.authHeaders, origin, "content-type": "application/json" },
        body: json({ title: "same-origin", command: "cat" })
      })
      expect(created.status).toBe(201)
      expect(created.json).toMatchObject({ title: "same-origin", computer: "sec" })
      const upgrade = yield* tryUpgrade(daemon.wsUrl, { origin })
      expect(upgrade._tag).toBe("opened")
      // A cross-site GET cannot read the answer (no CORS headers), so it is not refused.
      const read = yield* raw(daemon.httpUrl("/sessions"), { headers: { ...daemon.authHeaders, origin: "https://evil.example" } })
      expect(read.status).toBe(200)
      expect(read.headers["access-control-allow-origin"]).toBeUndefined()
      expect(yield* tmuxSessionNames(daemon.settings.tmuxSocket)).toEqual(["same-origin"])
    }))
})
