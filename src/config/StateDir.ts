/**
 * The state folder (mode 0700) holds what must stay on this computer: the
 * token clients present (generated on first start, mode 0600, unless given)
 * and, for a fleet, the secret its daemons share.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import type { DaemonSettings } from "./DaemonConfig.js"

export class StateError extends Schema.TaggedError<StateError>()("StateError", { message: Schema.String }) {}

export const tokenFile = (stateDir: string) => join(stateDir, "token")
export const secretFile = (stateDir: string) => join(stateDir, "fleet-secret")

const readTrimmed = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.map(fs.readFileString(path), (text) => text.trim()).pipe(
      Effect.map((text) => (text.length > 0 ? Option.some(text) : Option.none())),
      Effect.catchTag("SystemError", (e) => (e.reason === "NotFound" ? Effect.succeedNone : Effect.fail(e)))
    ))

/** The token of this computer's daemon, as the command-line client finds it. */
export const readToken = (stateDir: string) => readTrimmed(tokenFile(stateDir))

const ensureToken = (stateDir: string) =>
  Effect.gen(function*() {
    const existing = yield* readToken(stateDir)
    if (Option.isSome(existing)) return existing.value
    const fs = yield* FileSystem.FileSystem
    const token = randomBytes(24).toString("base64url")
    yield* fs.makeDirectory(stateDir, { recursive: true, mode: 0o700 })
    yield* fs.writeFileString(tokenFile(stateDir), `${token}\n`, { mode: 0o600 })
    return token
  })

const noSecret = (stateDir: string) =>
  new StateError({
    message: `a fleet needs a secret shared by all its daemons, so strangers with access to Redis cannot ` +
      `drive your terminals. Generate one once (openssl rand -hex 32) and give every daemon the same, with ` +
      `--fleet-secret, TERMFLEET_FLEET_SECRET or the file ${secretFile(stateDir)}`
  })

/** Fills in the token (generating it on first start) and, with Redis, the fleet secret. */
export const resolveSecrets = (
  settings: DaemonSettings,
  given: { readonly token: Option.Option<string> }
): Effect.Effect<DaemonSettings, StateError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const token = Option.isSome(given.token) ? given.token.value : yield* ensureToken(settings.stateDir)
    const fleetSecret = Option.isNone(settings.redisUrl) || Option.isSome(settings.fleetSecret)
      ? settings.fleetSecret
      : yield* Effect.flatMap(readTrimmed(secretFile(settings.stateDir)), (secret) =>
        Option.isSome(secret) ? Effect.succeed(secret) : Effect.fail(noSecret(settings.stateDir)))
    return { ...settings, token, fleetSecret }
  }).pipe(
    Effect.catchTags({
      SystemError: (e) => Effect.fail(new StateError({ message: `state folder ${settings.stateDir}: ${e.message}` })),
      BadArgument: (e) => Effect.fail(new StateError({ message: `state folder ${settings.stateDir}: ${e.message}` }))
    })
  )
