/**
 * The state folder (mode 0700) holds what must stay on this computer: the
 * token clients present (generated on first start, mode 0600, unless given)
 * and, for a fleet, the secret its daemons share. A folder found readable or
 * writable by others (made by hand, or copied) is tightened, and the log says
 * so; one that belongs to another user, or cannot be tightened, is refused.
 */
import { FileSystem } from "@effect/platform"
import { Config, Effect, Option, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { join } from "node:path"
import { stateDirIn, tokenFile } from "./Locations.js"

export class StateError extends Schema.TaggedError<StateError>()("StateError", { message: Schema.String }) {}

const optional = (name: string) => Config.string(name).pipe(Config.option, Config.map(Option.getOrUndefined))

/** The state folder (`stateDirIn`), its variables read through `Config`. */
export const stateDirConfig: Config.Config<string> = Config.all({
  TERMFLEET_STATE_DIR: optional("TERMFLEET_STATE_DIR"),
  XDG_STATE_HOME: optional("XDG_STATE_HOME")
}).pipe(Config.map(stateDirIn))
export const secretFile = (stateDir: string) => join(stateDir, "fleet-secret")

/** A file's text, trimmed; `None` when it is missing or empty. */
export const readTrimmed = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    Effect.map(fs.readFileString(path), (text) => Option.some(text.trim()).pipe(Option.filter((text) => text.length > 0))).pipe(
      Effect.catchTag("SystemError", (e) => (e.reason === "NotFound" ? Effect.succeed(Option.none<string>()) : Effect.fail(e)))
    ))

/** The token of this computer's daemon, as the command-line client finds it. */
export const readToken = (stateDir: string) => readTrimmed(tokenFile(stateDir))

/** `0644` */
export const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

/** The folder 0700, the token and the fleet secret 0600, when they exist; logs what it changed. */
export const tightenStateDir = (stateDir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const user = process.getuid?.()
    const changed: Array<string> = []
    for (const [path, mode] of [[stateDir, 0o700], [tokenFile(stateDir), 0o600], [secretFile(stateDir), 0o600]] as const) {
      const info = yield* fs.stat(path).pipe(
        Effect.asSome,
        Effect.catchTag("SystemError", (e) => (e.reason === "NotFound" ? Effect.succeedNone : Effect.fail(e)))
      )
      if (Option.isNone(info)) continue
      const owner = Option.getOrUndefined(info.value.uid)
      if (user !== undefined && owner !== undefined && owner !== user) {
        return yield* new StateError({
          message: `${path} belongs to user ${owner}, not to this daemon's user (${user}): whoever owns it can read or replace the token. Use a state folder of your own (--state-dir)`
        })
      }
      if ((info.value.mode & 0o077) === 0) continue
      yield* fs.chmod(path, mode).pipe(
        Effect.mapError((e) => new StateError({ message: `${path} is ${octal(info.value.mode)}, open to other users, and cannot be made ${octal(mode)}: ${e.message}` }))
      )
      changed.push(`${path} ${octal(info.value.mode)} → ${octal(mode)}`)
    }
    if (changed.length > 0) yield* Effect.logWarning(`the state folder was open to other users; tightened: ${changed.join(", ")}`)
  }).pipe(
    Effect.catchTags({
      SystemError: (e) => Effect.fail(new StateError({ message: `state folder ${stateDir}: ${e.message}` })),
      BadArgument: (e) => Effect.fail(new StateError({ message: `state folder ${stateDir}: ${e.message}` }))
    })
  )

/** The token kept in the state folder, generated there on first start. */
export const ensureToken = (stateDir: string) =>
  Effect.gen(function*() {
    const existing = yield* readToken(stateDir)
    if (Option.isSome(existing)) return existing.value
    const fs = yield* FileSystem.FileSystem
    const token = randomBytes(24).toString("base64url")
    yield* fs.makeDirectory(stateDir, { recursive: true, mode: 0o700 })
    yield* fs.writeFileString(tokenFile(stateDir), `${token}\n`, { mode: 0o600 })
    return token
  }).pipe(
    Effect.catchTags({
      SystemError: (e) => Effect.fail(new StateError({ message: `state folder ${stateDir}: ${e.message}` })),
      BadArgument: (e) => Effect.fail(new StateError({ message: `state folder ${stateDir}: ${e.message}` }))
    })
  )
