/** Command-line flags and env vars of `termfleet daemon`, decoded into `DaemonSettings`. */
import { Either, Option, Schema } from "effect"
import { parseArgs } from "node:util"
import { type DaemonSettings, defaultSettings } from "./DaemonConfig.js"
import { ComputerName } from "../domain/Model.js"

const flags = {
  computer: { type: "string", env: "TERMFLEET_COMPUTER" },
  redis: { type: "string", env: "TERMFLEET_REDIS_URL" },
  host: { type: "string", env: "TERMFLEET_HOST" },
  port: { type: "string", env: "TERMFLEET_PORT" },
  prefix: { type: "string", env: "TERMFLEET_PREFIX" },
  "tmux-socket": { type: "string", env: "TERMFLEET_TMUX_SOCKET" },
  projects: { type: "string", env: "TERMFLEET_PROJECTS" },
  token: { type: "string", env: "TERMFLEET_TOKEN" },
  "fleet-secret": { type: "string", env: "TERMFLEET_FLEET_SECRET" },
  "state-dir": { type: "string", env: "TERMFLEET_STATE_DIR" },
  "take-over": { type: "boolean", env: "TERMFLEET_TAKE_OVER" },
  "notify-url": { type: "string", env: "TERMFLEET_NOTIFY_URL" }
} as const

type Flag = keyof typeof flags

export const daemonUsage = `usage: termfleet daemon [options]

  --computer NAME      this computer's name            TERMFLEET_COMPUTER    (host name)
  --redis URL          Redis shared by the fleet       TERMFLEET_REDIS_URL   (none: local-only)
  --host HOST          address to listen on            TERMFLEET_HOST        (127.0.0.1)
  --port PORT          port to listen on               TERMFLEET_PORT        (7420)
  --prefix PREFIX      prefix of every Redis key       TERMFLEET_PREFIX      (termfleet:)
  --tmux-socket NAME   private tmux server (tmux -L)   TERMFLEET_TMUX_SOCKET (termfleet)
  --projects DIRS      folders holding projects, ':'-separated  TERMFLEET_PROJECTS
  --token TOKEN        token clients must present      TERMFLEET_TOKEN       (generated into the state folder)
  --fleet-secret S     secret shared by the fleet      TERMFLEET_FLEET_SECRET (read from <state>/fleet-secret)
  --state-dir DIR      token and secret live here      TERMFLEET_STATE_DIR   ($XDG_STATE_HOME/termfleet)
  --notify-url URL     POST agent events here          TERMFLEET_NOTIFY_URL  (none)
  --take-over          replace a daemon already running as this computer (else: refuse to start)  TERMFLEET_TAKE_OVER=1`

const Port = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 65535, { message: () => "a port is 0-65535" }))
const Prefix = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9:._-]{1,64}$/, {
  message: () => "a prefix is 1-64 letters, digits, ':', '.', '_' or '-'"
}))
const Secret = Schema.String.pipe(Schema.minLength(16, { message: () => "use at least 16 characters" }))
const NotifyUrl = Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/, {
  message: () => "a notify URL starts with http:// or https://"
}))
const RedisUrl = Schema.String.pipe(Schema.pattern(/^rediss?:\/\//, {
  message: () => "a Redis URL starts with redis:// or rediss://"
}))

/** What the command line says; a token not given is generated or read from the state folder at start. */
export interface DaemonArgs {
  readonly settings: DaemonSettings
  readonly token: Option.Option<string>
}

/** Flags win over env vars, env vars over defaults. Answers settings or a message for the user. */
export const parseDaemonArgs = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<DaemonArgs, string> => {
  let parsed: { values: Partial<Record<Flag, string | boolean>> }
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.entries(flags).map(([k, v]) => [k, { type: v.type }])),
      strict: true,
      allowPositionals: false
    }) as { values: Partial<Record<Flag, string | boolean>> }
  } catch (error) {
    return Either.left(error instanceof Error ? error.message : String(error))
  }
  const value = (flag: Flag) => {
    const given = parsed.values[flag]
    return Option.fromNullable(typeof given === "string" ? given : env[flags[flag].env] ?? undefined)
  }
  const check = <A>(flag: Flag, schema: Schema.Schema<A, string>) =>
    Option.match(value(flag), {
      onNone: () => Either.right(Option.none<A>()),
      onSome: (raw) =>
        Either.mapBoth(Schema.decodeEither(schema)(raw), {
          onLeft: (e) => `--${flag} ${JSON.stringify(raw)}: ${e.message.split("\n").at(-1)?.trim()}`,
          onRight: Option.some
        })
    })
  return Either.gen(function*() {
    const base = defaultSettings()
    const computer = yield* check("computer", ComputerName)
    const port = yield* check("port", Port)
    const prefix = yield* check("prefix", Prefix)
    const redisUrl = yield* check("redis", RedisUrl)
    const tmuxSocket = yield* check("tmux-socket", Prefix)
    const token = yield* check("token", Secret)
    const fleetSecret = yield* check("fleet-secret", Secret)
    const notifyUrl = yield* check("notify-url", NotifyUrl)
    const settings = defaultSettings({
      computer: Option.getOrElse(computer, () => base.computer),
      redisUrl,
      host: Option.getOrElse(value("host"), () => base.host),
      port: Option.getOrElse(port, () => base.port),
      prefix: Option.getOrElse(prefix, () => base.prefix),
      tmuxSocket: Option.getOrElse(tmuxSocket, () => base.tmuxSocket),
      projects: Option.match(value("projects"), { onNone: () => [], onSome: (dirs) => dirs.split(":").filter(Boolean) }),
      fleetSecret,
      notifyUrl,
      stateDir: Option.getOrElse(value("state-dir"), () => base.stateDir),
      takeOver: parsed.values["take-over"] === true || value("take-over").pipe(Option.exists((v) => v === "1" || v === "true"))
    })
    return { settings, token }
  })
}
