/**
 * A fleet's Redis with a password and TLS: the built daemon connects with
 * `rediss://:<password>@localhost:<port>`, trusting the server's CA through
 * NODE_EXTRA_CA_CERTS; with a wrong password, or without trusting the CA, it
 * reports Redis `unreachable` and goes on serving its own sessions.
 *
 * Certificates are made with `openssl` for this file; redis-server listens
 * on TLS only. Needs `npm run build` first (`make test` does it).
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { cleanEnv, type DaemonProcess, requireBuild, startDaemonProcess } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { privateTmux } from "../support/TmuxServer.js"
import { raw } from "../support/RawHttp.js"
import { tempDir } from "../support/TempDir.js"
import { makeCertificates, startTlsRedis } from "../support/TlsRedis.js"

beforeAll(requireBuild)

const PASSWORD = "tf-test-pw-0123456789"
const FLEET_SECRET = "tf-test-fleet-secret-0123456789"

const get = (daemon: DaemonProcess, path: string) =>
  raw(`${daemon.base}${path}`, { headers: { authorization: `Bearer ${daemon.token}` } })

const redisState = (daemon: DaemonProcess) => Effect.map(get(daemon, "/health"), (r) => String(r.json?.redis))

describe("Redis with a password over TLS", () => {
  it.scopedLive("the right password and a trusted CA: connected; a wrong password or an untrusted CA: unreachable, local service goes on", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      const { tlsPort } = yield* startTlsRedis(certs, PASSWORD)
      const stateRoot = yield* tempDir("tf-tls-state")

      const start = (name: string, password: string, env: NodeJS.ProcessEnv) =>
        Effect.gen(function*() {
          const tmuxSocket = yield* privateTmux
          return yield* startDaemonProcess([
          "--port", "0",
          "--computer", name,
          "--state-dir", join(stateRoot, name),
          "--tmux-socket", tmuxSocket,
          "--prefix", `tf-tls-${process.pid}:`,
          "--redis", `rediss://:${password}@localhost:${tlsPort}`,
          "--fleet-secret", FLEET_SECRET
          ], { tmuxSocket, env })
        })
      const trusted = cleanEnv({ NODE_EXTRA_CA_CERTS: certs.caCert })
      const [good, wrongPassword, untrusted] = yield* Effect.all([
        start("tls-good", PASSWORD, trusted),
        start("tls-wrong-pw", "not-the-password", trusted),
        start("tls-untrusted", PASSWORD, cleanEnv())
      ], { concurrency: "unbounded" })

      const states = (daemon: DaemonProcess, want: string) =>
        pollUntil(redisState(daemon), (state) => state === want, `${daemon.dashboardUrl}: redis '${want}'`).pipe(
          Effect.mapError((error) => new Error(`${error.message}\nstderr of the daemon:\n${daemon.stderr().slice(-2000)}`))
        )
      const seen = yield* Effect.all({
        good: states(good, "connected"),
        wrongPassword: states(wrongPassword, "unreachable"),
        untrusted: states(untrusted, "unreachable")
      }, { concurrency: "unbounded" })
      expect(seen).toEqual({ good: "connected", wrongPassword: "unreachable", untrusted: "unreachable" })

      // Still serving: reads answer from the local cache.
      for (const daemon of [good, wrongPassword, untrusted]) {
        const sessions = yield* get(daemon, "/sessions")
        expect({ daemon: daemon.dashboardUrl, status: sessions.status }).toEqual({ daemon: daemon.dashboardUrl, status: 200 })
      }
      // The connected daemon knows itself through Redis; the others only locally.
      const computers = yield* get(good, "/computers")
      expect(computers.json.map((c: { name: string }) => c.name)).toContain("tls-good")
      // The password never shows in what the daemon prints.
      for (const daemon of [good, wrongPassword, untrusted]) {
        expect(daemon.stdout() + daemon.stderr()).not.toContain(PASSWORD)
      }
    }))
})
