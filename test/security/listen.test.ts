/**
 * Where and how the built daemon (`node dist/main.js daemon`) listens, and
 * where it takes its secrets from, as an operator starts it: addresses and
 * ports refused or accepted with a usable URL, HTTPS and WSS with a
 * certificate made here, what it logs about the network and about secrets
 * on its command line, how many WebSocket clients it serves.
 */
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { chmodSync, readFileSync, writeFileSync } from "node:fs"
import { request } from "node:https"
import { networkInterfaces } from "node:os"
import { join } from "node:path"
import WebSocket from "ws"
import { cleanEnv, requireBuild, runBinary, startDaemonProcess } from "../support/DaemonProcess.js"
import { pollUntil } from "../support/Poll.js"
import { raw, untilClosed } from "../support/RawHttp.js"
import { tempDir } from "../support/TempDir.js"
import { makeCertificates } from "../support/TlsRedis.js"
import { privateTmux } from "../support/TmuxServer.js"
import { connectWs } from "../support/WsClient.js"

beforeAll(requireBuild)

const TOKEN = "listen-token-0123456789abcdef"
const FLEET_SECRET = "listen-fleet-secret-0123456789"
/** Nothing listens there: a fleet daemon starts all the same, and keeps trying. */
const NO_REDIS = "redis://127.0.0.1:1"

/** A daemon of its own (tmux server, state folder) with `args`; its token in a file. */
const start = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const tmuxSocket = yield* privateTmux
    const stateDir = yield* tempDir("tf-listen")
    const tokenFile = join(stateDir, "given-token")
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 })
    return yield* startDaemonProcess(
      ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", stateDir, "--token-file", tokenFile, ...args],
      { tmuxSocket, env: cleanEnv(env) }
    )
  })

/** GET over HTTPS trusting only `ca`. */
const httpsGet = (url: string, ca: string) =>
  Effect.async<{ readonly status: number; readonly body: string }, Error>((resume) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${TOKEN}` } }, (response) => {
      let body = ""
      response.on("data", (chunk: Buffer) => void (body += chunk.toString()))
      response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end()
  })

/** The first frame after subscribing to `sessions` over `url`, trusting only `ca`. */
const firstFrame = (url: string, ca: string) =>
  Effect.async<string, Error>((resume) => {
    const ws = new WebSocket(url, { ca, headers: { authorization: `Bearer ${TOKEN}` } })
    ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", topic: "sessions" })))
    ws.on("message", (data: Buffer) => {
      ws.close()
      resume(Effect.succeed(data.toString()))
    })
    ws.on("error", (error) => resume(Effect.fail(error)))
  })

describe("where the daemon listens", () => {
  it.live.each([
    [["--host", ""], {}, `--host ""`],
    [[], { TERMFLEET_HOST: "" }, `--host ""`],
    [["--port", "0x4e21"], {}, `--port "0x4e21"`],
    [["--port", "2e4"], {}, `--port "2e4"`],
    [["--port", " 20002 "], {}, `--port " 20002 "`],
    [[], { TERMFLEET_PORT: " 20002 " }, `--port " 20002 "`],
    [["--max-clients", "0"], {}, `--max-clients "0"`],
    [[], { TERMFLEET_MAX_CLIENTS: "10001" }, `--max-clients "10001"`]
  ] as const)("refuses %j %j at start, exit 2", ([args, env, message]) =>
    Effect.gen(function*() {
      const ran = yield* runBinary(["daemon", ...args], cleanEnv(env))
      expect(ran.code).toBe(2)
      expect(ran.stdout).toBe("")
      expect(ran.stderr).toContain(message)
    }))

  it.scopedLive.each(["[::1]", "::1"])("--host %s listens on IPv6 loopback and prints a URL that works", (host) =>
    Effect.gen(function*() {
      const daemon = yield* start(["--host", host])
      expect(daemon.dashboardUrl).toMatch(/^http:\/\/\[::1\]:\d+\/\?token=/)
      const health = yield* raw(`${daemon.base}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect(health.status).toBe(200)
      expect(daemon.log()).not.toContain("not loopback")
    }))

  it.scopedLive.each(["0.0.0.0", "::"])("--host %s prints a URL for loopback and each address of this computer's interfaces, each of which answers", (host) =>
    Effect.gen(function*() {
      const daemon = yield* start(["--host", host])
      // Every interface's address but link-local IPv6 ones (fe80::/10), which need a zone no browser takes; IPv6 only on `::`.
      const external = Object.values(networkInterfaces()).flat().flatMap((found) =>
        found === undefined || found.internal || /^fe[89ab]/i.test(found.address) || (found.family === "IPv6" && host !== "::")
          ? []
          : [found.family === "IPv6" ? `[${found.address}]` : found.address]
      )
      const hosts = [...(host === "::" ? ["127.0.0.1", "[::1]"] : ["127.0.0.1"]), ...external]
      const urlOf = (name: string) => `http://${name}:${daemon.port}/?token=${TOKEN}`
      const expected = JSON.stringify(hosts.map(urlOf).sort())
      const printed = yield* pollUntil(
        Effect.sync(() => [...daemon.stdout().matchAll(/^dashboard: (\S+)$/gm)].map((match) => match[1]!)),
        (urls) => JSON.stringify([...urls].sort()) === expected,
        `the dashboard URLs ${expected}`,
        5_000
      )
      expect(printed[0]).toBe(urlOf("127.0.0.1"))
      for (const url of printed) {
        const health = yield* raw(new URL("/health", url).href, { headers: { authorization: `Bearer ${TOKEN}` } })
        expect(health.status, url).toBe(200)
      }
    }))

  it.scopedLive("--max-clients 1: a second WebSocket client gets too_many_clients and close 1013", () =>
    Effect.gen(function*() {
      const daemon = yield* start(["--max-clients", "1"])
      const first = yield* connectWs(daemon.wsUrl)
      yield* first.send({ type: "ping" })
      yield* first.nextEvent("pong")
      const second = yield* untilClosed(daemon.wsUrl, "the second client", "5 seconds")
      expect(second.frames[0]).toMatchObject({ event: "error", data: { code: "too_many_clients" } })
      expect(second.code).toBe(1013)
    }))

  it.scopedLive("--tls-cert and --tls-key: HTTPS and WSS with the given certificate, and plain HTTP is not answered", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      const ca = readFileSync(certs.caCert, "utf8")
      const daemon = yield* start(["--host", "127.0.0.1", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey])
      expect(daemon.dashboardUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/\?token=/)

      const health = yield* httpsGet(`${daemon.base}/health`, ca)
      expect(health.status).toBe(200)
      expect(JSON.parse(health.body)).toMatchObject({ redis: "local-only" })
      const frame = JSON.parse(yield* firstFrame(`wss://127.0.0.1:${daemon.port}/ws`, ca))
      expect(frame).toMatchObject({ event: "sessions_initial" })

      const plain = yield* Effect.either(raw(`http://127.0.0.1:${daemon.port}/health`, { headers: { authorization: `Bearer ${TOKEN}` } }))
      expect(plain._tag === "Left" || plain.right.status !== 200).toBe(true)
    }))

  it.scopedLive("any other address is logged as chosen, and warned about without TLS", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      const open = yield* start(["--host", "0.0.0.0"])
      expect(open.log()).toContain("listening on 0.0.0.0, not loopback")
      expect(open.log()).toContain("served without TLS")
      yield* open.stop

      const sealed = yield* start(["--host", "0.0.0.0", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey])
      expect(sealed.log()).toContain("listening on 0.0.0.0, not loopback")
      expect(sealed.log()).not.toContain("without TLS")
      const local = yield* start([])
      expect(local.log()).not.toContain("not loopback")
    }))
})

describe("secrets on the daemon's command line", () => {
  it.scopedLive("a token from --token-file is the one checked, with no warning; --token works but warns about /proc", () =>
    Effect.gen(function*() {
      const fromFile = yield* start([])
      expect(fromFile.token).toBe(TOKEN)
      expect((yield* raw(`${fromFile.base}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
      expect(fromFile.log()).not.toContain("visible to every user")
      expect(fromFile.log()).not.toContain("other users of this computer can")
      yield* fromFile.stop

      const tmuxSocket = yield* privateTmux
      const flagged = yield* startDaemonProcess(
        ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", yield* tempDir("tf-listen"), "--token", TOKEN],
        { tmuxSocket }
      )
      expect(flagged.token).toBe(TOKEN)
      expect(flagged.log()).toContain(`--token is visible to every user of this computer (ps, /proc/${flagged.pid}/cmdline)`)
      expect(flagged.log()).not.toContain("--redis carries a password")
      yield* flagged.stop

      // A Redis password in --redis too (nothing listens there: the daemon starts anyway).
      const withRedis = yield* startDaemonProcess(
        ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", yield* tempDir("tf-listen"), "--redis", "redis://:pw-0123@127.0.0.1:1"],
        { tmuxSocket, env: cleanEnv({ TERMFLEET_FLEET_SECRET: "fleet-secret-0123456789", TERMFLEET_TOKEN: TOKEN }) }
      )
      expect(withRedis.log()).toContain(`--redis carries a password, visible to every user of this computer (ps, /proc/${withRedis.pid}/cmdline)`)
    }))

  it.scopedLive("--fleet-secret works but warns about /proc", () =>
    Effect.gen(function*() {
      const tmuxSocket = yield* privateTmux
      const flagged = yield* startDaemonProcess(
        ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", yield* tempDir("tf-listen"), "--redis", NO_REDIS, "--fleet-secret", FLEET_SECRET],
        { tmuxSocket, env: cleanEnv({ TERMFLEET_TOKEN: TOKEN }) }
      )
      expect(flagged.log()).toContain(
        `--fleet-secret is visible to every user of this computer (ps, /proc/${flagged.pid}/cmdline): prefer --fleet-secret-file or TERMFLEET_FLEET_SECRET`
      )
      expect(flagged.log()).not.toContain("--token is visible")
      expect((yield* raw(`${flagged.base}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
    }))

  it.scopedLive("a token or fleet secret file other users may read or change is taken, with a warning naming it, its mode and chmod 600", () =>
    Effect.gen(function*() {
      const tmuxSocket = yield* privateTmux
      const dir = yield* tempDir("tf-listen")
      const tokenFile = join(dir, "token-given")
      const secretFile = join(dir, "fleet-secret-given")
      writeFileSync(tokenFile, `${TOKEN}\n`)
      writeFileSync(secretFile, `${FLEET_SECRET}\n`)
      const daemon = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
        startDaemonProcess(
          ["--port", "0", "--tmux-socket", tmuxSocket, "--state-dir", join(dir, "state"), "--redis", NO_REDIS, ...args],
          { tmuxSocket, env: cleanEnv(env) }
        )

      // Readable by everyone (a file written under umask 022), by flags.
      chmodSync(tokenFile, 0o644)
      chmodSync(secretFile, 0o644)
      const open = yield* daemon(["--token-file", tokenFile, "--fleet-secret-file", secretFile])
      expect(open.token).toBe(TOKEN)
      expect(open.log()).toContain(`--token-file "${tokenFile}" is mode 0644: other users of this computer can read the token in it; chmod 600 ${tokenFile}`)
      expect(open.log()).toContain(
        `--fleet-secret-file "${secretFile}" is mode 0644: other users of this computer can read the fleet secret in it; chmod 600 ${secretFile}`
      )
      yield* open.stop

      // Writable by the group, through the environment.
      chmodSync(tokenFile, 0o620)
      chmodSync(secretFile, 0o666)
      const viaEnv = yield* daemon([], { TERMFLEET_TOKEN_FILE: tokenFile, TERMFLEET_FLEET_SECRET_FILE: secretFile })
      expect(viaEnv.log()).toContain(`TERMFLEET_TOKEN_FILE "${tokenFile}" is mode 0620: other users of this computer can change the token in it`)
      expect(viaEnv.log()).toContain(`TERMFLEET_FLEET_SECRET_FILE "${secretFile}" is mode 0666: other users of this computer can read and change the fleet secret in it`)
      yield* viaEnv.stop

      // The owner's only: no warning.
      chmodSync(tokenFile, 0o600)
      chmodSync(secretFile, 0o400)
      const closed = yield* daemon(["--token-file", tokenFile, "--fleet-secret-file", secretFile])
      expect(closed.token).toBe(TOKEN)
      expect(closed.log()).not.toContain("other users of this computer can")
    }))
})
