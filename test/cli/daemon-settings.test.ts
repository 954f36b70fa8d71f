/**
 * `termfleet daemon`'s settings, read in-process through the real command
 * line (`runCli`) with a given environment and real files: defaults, env
 * vars and flags, what is refused (exit 2, naming the flag, the value and
 * the rule), and where secrets come from.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { cliIn } from "../support/Cli.js"
import { tempDir } from "../support/TempDir.js"
import { makeCertificates } from "../support/TlsRedis.js"

const SECRET = "fleet-secret-0123456789abcdef"
const TOKEN = "token-0123456789abcdef"

/** `termfleet daemon <argv>` with `env` and a state folder of its own. */
const daemon = (env: Readonly<Record<string, string>>, ...argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const stateDir = yield* tempDir("tf-settings")
    return { stateDir, ...(yield* cliIn({ TERMFLEET_STATE_DIR: stateDir, ...env }, ["daemon", ...argv])) }
  })

const settingsOf = (env: Readonly<Record<string, string>>, ...argv: ReadonlyArray<string>) =>
  Effect.flatMap(daemon(env, ...argv), (ran) => {
    expect(ran.stderr).toBe("")
    expect(ran.code).toBe(0)
    return Effect.succeed(Option.getOrThrow(ran.settings))
  })

const file = (dir: string, name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text, { mode: 0o600 })
  return path
}

describe("termfleet daemon: settings", () => {
  it.scoped("defaults: local-only on 127.0.0.1:7420, a token generated into the state folder", () =>
    Effect.gen(function*() {
      const { settings, stateDir } = yield* daemon({})
      const given = Option.getOrThrow(settings)
      expect(given).toMatchObject({ host: "127.0.0.1", port: 7420, prefix: "termfleet:", tmuxSocket: "termfleet", stateDir })
      expect(Option.isNone(given.fleet)).toBe(true)
      expect(Option.isNone(given.tls)).toBe(true)
      expect(Redacted.value(given.token).length).toBeGreaterThanOrEqual(16)
      // Secrets do not show when settings are printed or logged.
      expect(String(given.token)).not.toContain(Redacted.value(given.token))
    }))

  it.scoped("reads env vars, and flags win over them", () =>
    Effect.gen(function*() {
      const settings = yield* settingsOf(
        { TERMFLEET_COMPUTER: "laptop", TERMFLEET_PORT: "7500", TERMFLEET_PREFIX: "env:", TERMFLEET_TOKEN: TOKEN },
        "--port", "7600", "--projects", "/a:/b"
      )
      expect(settings).toMatchObject({ computer: "laptop", port: 7600, prefix: "env:", projects: ["/a", "/b"] })
      expect(Redacted.value(settings.token)).toBe(TOKEN)
    }))

  it.scoped("--public-url or TERMFLEET_PUBLIC_URL: an absolute http(s) URL, as the URL parser writes it; none by default", () =>
    Effect.gen(function*() {
      expect((yield* settingsOf({})).publicUrl).toEqual(Option.none())
      expect((yield* settingsOf({}, "--public-url", "https://Fleet.Example")).publicUrl).toEqual(Option.some("https://fleet.example/"))
      expect((yield* settingsOf({ TERMFLEET_PUBLIC_URL: "http://laptop.lan:7420/termfleet/" })).publicUrl).toEqual(
        Option.some("http://laptop.lan:7420/termfleet/")
      )
    }))

  const hosts: ReadonlyArray<readonly [string, string]> = [
    ["[::1]", "::1"],
    ["::1", "::1"],
    ["localhost", "localhost"],
    ["0.0.0.0", "0.0.0.0"]
  ]
  it.scoped.each(hosts)("--host %j listens on %j", ([given, host]) =>
    Effect.map(settingsOf({}, "--host", given), (settings) => expect(settings.host).toBe(host)))

  const refused: ReadonlyArray<readonly [string, Readonly<Record<string, string>>, ReadonlyArray<string>, string]> = [
    ["an empty --host (every interface)", {}, ["--host", ""], `--host "": expected an IPv4 address`],
    ["an empty TERMFLEET_HOST", { TERMFLEET_HOST: "" }, [], `--host "": expected an IPv4 address`],
    ["half a bracketed address", {}, ["--host", "[::1"], `--host "[::1"`],
    ["a port in hex", {}, ["--port", "0x4e21"], `--port "0x4e21": expected a plain decimal number`],
    ["a port in exponent form", {}, ["--port", "2e4"], `--port "2e4": expected a plain decimal number`],
    ["a port with spaces", {}, ["--port", " 20002 "], `--port " 20002 ": expected a plain decimal number`],
    ["a port with spaces in TERMFLEET_PORT", { TERMFLEET_PORT: " 20002 " }, [], `--port " 20002 "`],
    ["a port above 65535", {}, ["--port", "99999"], `--port "99999"`],
    ["a computer name that looks like a flag", {}, ["--computer", "-rf"], `--computer "-rf": a computer name is`],
    ["a computer name with a space", {}, ["--computer", "a b"], `--computer "a b"`],
    ["a Redis URL that is not one", {}, ["--redis", "http://x"], `--redis "http://x": expected a Redis URL`],
    ["a TERMFLEET_REDIS_URL that is not one", { TERMFLEET_REDIS_URL: "http://x" }, [], `--redis "http://x": expected a Redis URL`],
    ["a Redis URL that is not one, its password hidden", {}, ["--redis", "redis//u:hunter2@h:1"], `--redis "redis//u:***@h:1": expected a Redis URL`],
    ["a TERMFLEET_REDIS_URL that is not one, its password hidden", { TERMFLEET_REDIS_URL: "http://:p@ss@x/0" }, [], `--redis "http://:***@x/0"`],
    ["Sentinels without the master's name", {}, ["--redis", "redis+sentinel://a:26379,b:26380"], `(the master's name after the last '/')`],
    ["a Sentinel without a port number", {}, ["--redis", "redis+sentinel://a:x/m"], `expected host:port for each Sentinel, not 'a:x'`],
    ["a Sentinel on port 0", {}, ["--redis", "redis+sentinel://a:0/m"], `expected host:port for each Sentinel, not 'a:0'`],
    ["a prefix with a space", {}, ["--prefix", "a b"], `--prefix "a b"`],
    ["a public URL without a scheme", {}, ["--public-url", "fleet.example"], `--public-url "fleet.example": expected an absolute http:// or https:// URL`],
    ["a public URL of another scheme", {}, ["--public-url", "ftp://fleet.example"], `--public-url "ftp://fleet.example": expected an absolute`],
    ["a relative public URL in TERMFLEET_PUBLIC_URL", { TERMFLEET_PUBLIC_URL: "/termfleet" }, [], `--public-url "/termfleet": expected an absolute`],
    ["a public URL with a fragment", {}, ["--public-url", "https://fleet.example/#x"], `without user, ?query or #fragment`],
    ["a public URL with a password", {}, ["--public-url", "https://u:p@fleet.example"], `without user, ?query or #fragment`],
    ["an unknown flag", {}, ["--bogus"], "--bogus"]
  ]
  it.scoped.each(refused)("refuses %s, exit 2", ([, env, argv, message]) =>
    Effect.gen(function*() {
      const ran = yield* daemon(env, ...argv)
      expect(ran.code).toBe(2)
      expect(ran.stderr).toContain(message)
      expect(ran.stderr).not.toMatch(/[└├─]|hunter2|p@ss/)
      expect(Option.isNone(ran.settings)).toBe(true)
    }))
})

describe("termfleet daemon: secrets", () => {
  it.scoped("the token comes from --token-file, TERMFLEET_TOKEN_FILE, TERMFLEET_TOKEN, or the state folder", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("tf-secrets")
      const path = file(dir, "token", `${TOKEN}-file\n`)
      const token = (settings: { readonly token: Redacted.Redacted<string> }) => Redacted.value(settings.token)
      expect(token(yield* settingsOf({}, "--token-file", path))).toBe(`${TOKEN}-file`)
      expect(token(yield* settingsOf({ TERMFLEET_TOKEN_FILE: path }))).toBe(`${TOKEN}-file`)
      expect(token(yield* settingsOf({ TERMFLEET_TOKEN: TOKEN }))).toBe(TOKEN)
      // A flag wins over the env.
      expect(token(yield* settingsOf({ TERMFLEET_TOKEN: TOKEN }, "--token-file", path))).toBe(`${TOKEN}-file`)
      const kept = yield* daemon({})
      expect(token(Option.getOrThrow(kept.settings))).toBe(
        (yield* settingsOf({ TERMFLEET_STATE_DIR: kept.stateDir })).token.pipe(Redacted.value)
      )
    }))

  it.scoped("a fleet takes its secret from --fleet-secret-file, the env, or the state folder", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("tf-secrets")
      const path = file(dir, "fleet-secret", `${SECRET}\n`)
      const redis = ["--redis", "redis://nas:6379"]
      const fleetOf = (settings: { readonly fleet: Option.Option<{ readonly secret: Redacted.Redacted<string>; readonly redisUrl: Redacted.Redacted<string> }> }) =>
        Option.map(settings.fleet, (fleet) => [Redacted.value(fleet.redisUrl), Redacted.value(fleet.secret)])
      const expected = Option.some(["redis://nas:6379", SECRET])
      expect(fleetOf(yield* settingsOf({}, ...redis, "--fleet-secret-file", path))).toEqual(expected)
      expect(fleetOf(yield* settingsOf({ TERMFLEET_FLEET_SECRET_FILE: path }, ...redis))).toEqual(expected)
      expect(fleetOf(yield* settingsOf({ TERMFLEET_FLEET_SECRET: SECRET, TERMFLEET_REDIS_URL: "redis://nas:6379" }))).toEqual(expected)
      const stateDir = yield* tempDir("tf-state")
      file(stateDir, "fleet-secret", SECRET)
      expect(fleetOf(yield* settingsOf({ TERMFLEET_STATE_DIR: stateDir }, ...redis))).toEqual(expected)
      // A Redis URL with a password, from the flag (warned about: test/security/listen.test.ts) or the environment.
      const withPassword = "redis+sentinel://:pw-0123@s1,s2:26380/main"
      const flagged = yield* daemon({ TERMFLEET_FLEET_SECRET: SECRET }, "--redis", withPassword)
      expect(fleetOf(Option.getOrThrow(flagged.settings))).toEqual(Option.some([withPassword, SECRET]))
      expect(fleetOf(yield* settingsOf({ TERMFLEET_FLEET_SECRET: SECRET, TERMFLEET_REDIS_URL: withPassword }))).toEqual(
        Option.some([withPassword, SECRET])
      )
      // Without Redis, no fleet, whatever secret is around.
      expect(fleetOf(yield* settingsOf({ TERMFLEET_FLEET_SECRET: SECRET }))).toEqual(Option.none())
    }))

  it.scoped("refuses a fleet without a secret, a short secret (without printing it), and two sources at once", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("tf-secrets")
      const short = file(dir, "short", "guessable\n")
      const long = file(dir, "long", SECRET)
      const cases = [
        [{}, ["--redis", "redis://nas:6379"], "--fleet-secret-file"],
        [{}, ["--redis", "redis://nas:6379", "--fleet-secret-file", short], "use at least 16 characters"],
        [{}, ["--token-file", short], "use at least 16 characters"],
        [{}, ["--token-file", join(dir, "missing")], "missing"],
        [{}, ["--token-file", long, "--token", TOKEN], "not both"],
        [{ TERMFLEET_TOKEN: TOKEN, TERMFLEET_TOKEN_FILE: long }, [], "not both"]
      ] as const
      for (const [env, argv, message] of cases) {
        const ran = yield* daemon(env, ...argv)
        expect({ argv, code: ran.code }).toEqual({ argv, code: 2 })
        expect(ran.stderr).toContain(message)
        expect(ran.stderr).not.toContain("guessable")
      }
    }))
})

describe("termfleet daemon: TLS", () => {
  it.scoped("--tls-cert and --tls-key are read at start; one without the other, or files that are not a pair, are refused", () =>
    Effect.gen(function*() {
      const certs = yield* makeCertificates
      const settings = yield* settingsOf({}, "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey)
      expect(Option.map(settings.tls, (tls) => tls.cert)).toEqual(Option.some(expect.stringContaining("BEGIN CERTIFICATE")))

      const half = yield* daemon({}, "--tls-cert", certs.serverCert)
      expect(half.code).toBe(2)
      expect(half.stderr).toContain("give both --tls-cert and --tls-key")
      const mismatched = yield* daemon({}, "--tls-cert", certs.serverCert, "--tls-key", certs.caCert)
      expect(mismatched.code).toBe(2)
      expect(mismatched.stderr).toContain("not a certificate and its private key")
    }))
})
