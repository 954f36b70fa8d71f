/**
 * Reads a daemon's settings once, at start: the flags (`DaemonFlags.ts`,
 * each with its env var), then the secrets and files they point to. Anything
 * wrong is a `SettingsError` naming the flag and the rule (exit 2).
 *
 * A secret (token, fleet secret) comes from the first of: its flag or its
 * `-file` flag, its env var or its `_FILE` env var, the state folder. One
 * given as a flag still works but is logged: every local user can read a
 * process's command line.
 */
import { FileSystem } from "@effect/platform"
import { Config, ConfigError, Effect, Either, Option, Redacted, Schema } from "effect"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { DEFAULT_HOST, DEFAULT_PORT, type DaemonSettings, defaultSettings, type TlsSettings } from "./DaemonConfig.js"
import type { DaemonFlags } from "./DaemonFlags.js"
import { describeIssue } from "./Flag.js"
import { defaultLimits } from "../domain/Limits.js"
import { carriesPassword, checkRedisUrl, withoutPassword } from "./RedisAddress.js"
import { ensureToken, octal, readTrimmed, secretFile, stateDirConfig, tightenStateDir } from "./StateDir.js"

export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", { message: Schema.String }) {}

const refuse = (message: string) => new SettingsError({ message })

const Secret = Schema.String.pipe(Schema.minLength(16, { message: () => "use at least 16 characters" }))

/** Never prints the secret itself. */
const checkSecret = (from: string, secret: string) =>
  Effect.mapBoth(Schema.decode(Secret)(secret), {
    onFailure: (error) => refuse(`${from}: ${describeIssue(error)}`),
    onSuccess: Redacted.make
  })

const readFile = (what: string, path: string) =>
  Effect.flatMap(readTrimmed(path), Option.match({
    onNone: () => Effect.fail(refuse(`${what} ${JSON.stringify(path)}: the file is missing or empty`)),
    onSome: Effect.succeed
  })).pipe(Effect.catchTags({
    SystemError: (e) => Effect.fail(refuse(`${what} ${JSON.stringify(path)}: ${e.message}`)),
    BadArgument: (e) => Effect.fail(refuse(`${what} ${JSON.stringify(path)}: ${e.message}`))
  }))

/**
 * A file holding a secret, taken with a warning when other users of this
 * computer may read or change it: it is the user's file, not the daemon's to
 * tighten (as it does its state folder), and one made under umask 022 is 0644.
 */
const readSecretFile = (what: string, secret: string, path: string) =>
  Effect.gen(function*() {
    const text = yield* readFile(what, path)
    const info = yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.stat(path)).pipe(Effect.option)
    const mode = Option.match(info, { onNone: () => 0, onSome: (info) => info.mode })
    const can = [...(mode & 0o044 ? ["read"] : []), ...(mode & 0o022 ? ["change"] : [])]
    if (can.length > 0) {
      yield* Effect.logWarning(
        `${what} ${JSON.stringify(path)} is mode ${octal(mode)}: other users of this computer can ${can.join(" and ")} the ${secret} in it; chmod 600 ${path}`
      )
    }
    return text
  })

const fromConfig = <A>(config: Config.Config<A>) =>
  Effect.mapError(config, (error) => refuse(ConfigError.isConfigError(error) ? String(error) : "bad environment"))

interface SecretSources {
  /** `token`, `fleet-secret` */
  readonly flag: string
  /** `TERMFLEET_TOKEN`, `TERMFLEET_FLEET_SECRET` */
  readonly env: string
  readonly given: Option.Option<Redacted.Redacted<string>>
  readonly givenFile: Option.Option<string>
}

const findSecret = (sources: SecretSources) =>
  Effect.gen(function*() {
    const { env, flag } = sources
    const secret = flag.replace("-", " ")
    if (Option.isSome(sources.given) && Option.isSome(sources.givenFile)) {
      return yield* refuse(`give --${flag} or --${flag}-file, not both`)
    }
    if (Option.isSome(sources.given)) {
      yield* Effect.logWarning(
        `--${flag} is visible to every user of this computer (ps, /proc/${process.pid}/cmdline): ` +
          `prefer --${flag}-file or ${env}`
      )
      return Option.some(yield* checkSecret(`--${flag}`, Redacted.value(sources.given.value)))
    }
    if (Option.isSome(sources.givenFile)) {
      const path = sources.givenFile.value
      return Option.some(yield* checkSecret(`--${flag}-file ${path}`, yield* readSecretFile(`--${flag}-file`, secret, path)))
    }
    const value = yield* fromConfig(Config.option(Config.string(env)))
    const file = yield* fromConfig(Config.option(Config.string(`${env}_FILE`)))
    if (Option.isSome(value) && Option.isSome(file)) return yield* refuse(`set ${env} or ${env}_FILE, not both`)
    if (Option.isSome(value)) return Option.some(yield* checkSecret(env, value.value))
    if (Option.isSome(file)) {
      return Option.some(yield* checkSecret(`${env}_FILE ${file.value}`, yield* readSecretFile(`${env}_FILE`, secret, file.value)))
    }
    return Option.none()
  })

const noSecret = (stateDir: string) =>
  refuse(
    `a fleet needs a secret shared by all its daemons, so strangers with access to Redis cannot ` +
      `drive your terminals. Generate one once (openssl rand -hex 32 > fleet-secret) and give every daemon ` +
      `the same, with --fleet-secret-file, TERMFLEET_FLEET_SECRET_FILE, TERMFLEET_FLEET_SECRET or the file ` +
      secretFile(stateDir)
  )

const readTls = (cert: Option.Option<string>, key: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(cert) && Option.isNone(key)) return Option.none<TlsSettings>()
    if (Option.isNone(cert) || Option.isNone(key)) return yield* refuse("give both --tls-cert and --tls-key, or neither")
    const tls = {
      cert: yield* readFile("--tls-cert", cert.value),
      key: Redacted.make(yield* readFile("--tls-key", key.value)),
      certFile: resolve(cert.value)
    }
    // Refused now, with the flags' names, rather than when the server starts. (`node:tls` loads only here: a client command needs none.)
    const { createSecureContext } = yield* Effect.promise(() => import("node:tls"))
    yield* Effect.try({
      try: () => createSecureContext({ cert: tls.cert, key: Redacted.value(tls.key) }),
      catch: (error) =>
        refuse(`--tls-cert ${cert.value} and --tls-key ${key.value}: not a certificate and its private key (${String(error)})`)
    })
    return Option.some(tls)
  })

/**
 * The fleet's Redis: `--redis`, else `TERMFLEET_REDIS_URL`. A password in the
 * flag still works but is logged: every local user can read a command line.
 */
const redisUrlOf = (given: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(given)) {
      if (carriesPassword(given.value)) {
        yield* Effect.logWarning(
          `--redis carries a password, visible to every user of this computer (ps, /proc/${process.pid}/cmdline): ` +
            `give the URL in TERMFLEET_REDIS_URL`
        )
      }
      return given
    }
    const fromEnv = yield* fromConfig(Config.option(Config.string("TERMFLEET_REDIS_URL")))
    if (Option.isNone(fromEnv)) return fromEnv
    return yield* Either.match(checkRedisUrl(fromEnv.value), {
      onLeft: (rule) => Effect.fail(refuse(`--redis ${JSON.stringify(withoutPassword(fromEnv.value))}: ${rule}`)),
      onRight: (url) => Effect.succeed(Option.some(url))
    })
  })

/** The settings `flags` describe, with their secrets and files read (the token generated on first start). */
export const readSettings = (
  flags: DaemonFlags
): Effect.Effect<DaemonSettings, SettingsError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const stateDir = yield* Option.match(flags.stateDir, { onNone: () => fromConfig(stateDirConfig), onSome: Effect.succeed })
    yield* Effect.mapError(tightenStateDir(stateDir), (e) => refuse(e.message))
    const token = yield* findSecret({ flag: "token", env: "TERMFLEET_TOKEN", given: flags.token, givenFile: flags.tokenFile })
    const secret = yield* findSecret({
      flag: "fleet-secret",
      env: "TERMFLEET_FLEET_SECRET",
      given: flags.fleetSecret,
      givenFile: flags.fleetSecretFile
    })
    const fleet = yield* Option.match(yield* redisUrlOf(flags.redis), {
      onNone: () => Effect.succeedNone,
      onSome: (redisUrl) =>
        Effect.gen(function*() {
          const file = secretFile(stateDir)
          const found = Option.isSome(secret)
            ? secret.value
            : yield* Effect.flatMap(
              Effect.mapError(readTrimmed(file), (e) => refuse(`${file}: ${e.message}`)),
              Option.match({ onNone: () => Effect.fail(noSecret(stateDir)), onSome: (text) => checkSecret(file, text) })
            )
          return Option.some({ redisUrl: Redacted.make(redisUrl), secret: found })
        })
    })
    return defaultSettings({
      computer: Option.getOrElse(flags.computer, () => hostname().split(".")[0] || "localhost"),
      fleet,
      host: Option.getOrElse(flags.host, () => DEFAULT_HOST),
      port: Option.getOrElse(flags.port, () => DEFAULT_PORT),
      tls: yield* readTls(flags.tlsCert, flags.tlsKey),
      prefix: Option.getOrElse(flags.prefix, () => "termfleet:"),
      tmuxSocket: Option.getOrElse(flags.tmuxSocket, () => "termfleet"),
      projects: Option.getOrElse(flags.projects, () => []),
      token: Option.isSome(token)
        ? token.value
        : Redacted.make(yield* Effect.mapError(ensureToken(stateDir), (e) => refuse(e.message))),
      stateDir,
      takeOver: flags.takeOver,
      notifyUrl: flags.notifyUrl,
      publicUrl: flags.publicUrl,
      limits: { ...defaultLimits, maxClients: Option.getOrElse(flags.maxClients, () => defaultLimits.maxClients) },
      // An empty SHELL counts as none, as login(1) does.
      shell: yield* fromConfig(Config.string("SHELL").pipe(Config.withDefault(""), Config.map((shell) => shell || "/bin/sh")))
    })
  })
