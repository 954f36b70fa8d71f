/**
 * The flags of `termfleet daemon`, each with its env var (the flag wins) and
 * its rule. Secrets and files are read afterwards, by `Settings.ts`.
 */
import * as Options from "@effect/cli/Options"
import { Config, Either, Schema } from "effect"
import { defaultLimits } from "../domain/Limits.js"
import { ComputerName } from "../domain/Model.js"
import { Host, Port, PublicUrl } from "./Address.js"
import { flag, PlainDecimal } from "./Flag.js"
import { checkRedisUrl, withoutPassword } from "./RedisAddress.js"

const Prefix = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9:._-]{1,64}$/, {
  message: () => "expected 1-64 letters, digits, ':', '.', '_' or '-'"
}))
const RedisUrl = Schema.String.pipe(Schema.filter((url) => Either.match(checkRedisUrl(url), { onLeft: (rule) => rule, onRight: () => true })))
const NotifyUrl = Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/, {
  message: () => "expected an http:// or https:// URL"
}))
const MaxClients = PlainDecimal.pipe(
  Schema.compose(Schema.Int.pipe(Schema.between(1, 10_000))),
  Schema.annotations({ message: () => "expected a plain decimal number from 1 to 10000" })
)
const Path = Schema.String.pipe(Schema.minLength(1, { message: () => "expected a path" }))
const Folders = Schema.transform(Schema.String, Schema.Array(Schema.String), {
  strict: true,
  decode: (dirs) => dirs.split(":").filter((dir) => dir.length > 0),
  encode: (dirs) => dirs.join(":")
})

/** A secret given on the command line: still taken, with a warning (other users can read it). */
const secretFlag = (name: string, about: string) =>
  Options.redacted(name).pipe(Options.withPseudoName("SECRET"), Options.withDescription(about), Options.optional)
// Its env var is read with the secret's own (`Settings.ts`), so that a flag wins over both.
const secretFileFlag = (name: string, env: string, about: string) =>
  flag(name, { schema: Path, value: "FILE", about: `${about} (env ${env})` })

export const daemonFlags = {
  computer: flag("computer", {
    env: "TERMFLEET_COMPUTER",
    schema: ComputerName,
    value: "NAME",
    about: "this computer's name in the fleet (default: the host name)"
  }),
  // Its env var is read by `Settings.ts`, so that a password given on the command line can be told from one in the environment.
  redis: flag("redis", {
    schema: RedisUrl,
    show: withoutPassword,
    value: "URL",
    about:
      "the Redis shared by the fleet, or its Sentinels: redis+sentinel://host:port,host:port/master (default: none, local-only; " +
      "env TERMFLEET_REDIS_URL, where a URL with a password belongs)"
  }),
  host: flag("host", {
    env: "TERMFLEET_HOST",
    schema: Host,
    value: "HOST",
    about: "the address to listen on (default: 127.0.0.1); anything but loopback is reachable from the network"
  }),
  port: flag("port", { env: "TERMFLEET_PORT", schema: Port, value: "PORT", about: "the port to listen on (default: 7420; 0: any free one)" }),
  tlsCert: flag("tls-cert", {
    env: "TERMFLEET_TLS_CERT",
    schema: Path,
    value: "FILE",
    about: "serve HTTPS and WSS with this certificate chain (PEM), with --tls-key"
  }),
  tlsKey: flag("tls-key", { env: "TERMFLEET_TLS_KEY", schema: Path, value: "FILE", about: "the certificate's private key (PEM)" }),
  prefix: flag("prefix", {
    env: "TERMFLEET_PREFIX",
    schema: Prefix,
    value: "PREFIX",
    about: "prefix of every Redis key, so fleets can share a Redis (default: termfleet:)"
  }),
  tmuxSocket: flag("tmux-socket", {
    env: "TERMFLEET_TMUX_SOCKET",
    schema: Prefix,
    value: "NAME",
    about: "the private tmux server holding the sessions, tmux -L (default: termfleet)"
  }),
  projects: flag("projects", {
    env: "TERMFLEET_PROJECTS",
    schema: Folders,
    value: "DIRS",
    about: "':'-separated folders; each sub-folder is a project"
  }),
  notifyUrl: flag("notify-url", {
    env: "TERMFLEET_NOTIFY_URL",
    schema: NotifyUrl,
    value: "URL",
    about: "POST an event here when an agent session of this computer starts waiting or finishes"
  }),
  publicUrl: flag("public-url", {
    env: "TERMFLEET_PUBLIC_URL",
    schema: PublicUrl,
    value: "URL",
    about: "the address people open the dashboard at (a proxy's, a DNS name), for the links of --notify-url; " +
      "its host is answered too (default: the address listened on)"
  }),
  maxClients: flag("max-clients", {
    env: "TERMFLEET_MAX_CLIENTS",
    schema: MaxClients,
    value: "N",
    about: `WebSocket clients (dashboards, watchers) served at once; one more is refused with 1013 (default: ${defaultLimits.maxClients})`
  }),
  takeOver: Options.boolean("take-over").pipe(
    Options.withDescription(
      "replace a daemon already running as this computer (it stops), instead of refusing to start (env TERMFLEET_TAKE_OVER=1)"
    ),
    Options.withFallbackConfig(Config.boolean("TERMFLEET_TAKE_OVER"))
  ),
  stateDir: flag("state-dir", {
    env: "TERMFLEET_STATE_DIR",
    schema: Path,
    value: "DIR",
    about: "holds the token and the fleet secret (default: $XDG_STATE_HOME/termfleet or ~/.local/state/termfleet)"
  }),
  tokenFile: secretFileFlag(
    "token-file",
    "TERMFLEET_TOKEN_FILE",
    "a file holding the token clients must present (else env TERMFLEET_TOKEN, else <state>/token, generated)"
  ),
  token: secretFlag("token", "the token itself: visible to other users in the process list, prefer --token-file"),
  fleetSecretFile: secretFileFlag(
    "fleet-secret-file",
    "TERMFLEET_FLEET_SECRET_FILE",
    "a file holding the secret shared by the fleet (else env TERMFLEET_FLEET_SECRET, else <state>/fleet-secret)"
  ),
  fleetSecret: secretFlag("fleet-secret", "the fleet secret itself: visible to other users in the process list, prefer --fleet-secret-file")
}

export type DaemonFlags = {
  readonly [K in keyof typeof daemonFlags]: typeof daemonFlags[K] extends Options.Options<infer A> ? A : never
}
