/**
 * The settings a daemon runs with, read once at start from flags and env
 * vars (`DaemonFlags.ts`, `Secrets.ts`), or built directly by tests with
 * `defaultSettings`.
 */
import { Context, Layer, Option, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { defaultLimits, type ServerLimits } from "../domain/Limits.js"

/** A daemon in a fleet has both: the type leaves no way to join one without its secret. */
export interface FleetSettings {
  /** Redis shared by the fleet (may carry a password). */
  readonly redisUrl: Redacted.Redacted<string>
  /** Shared by every daemon of the fleet; seals what they write to each other (`Seal.ts`). */
  readonly secret: Redacted.Redacted<string>
}

/** HTTPS and WSS instead of HTTP and WS: the certificate chain and its private key, PEM. */
export interface TlsSettings {
  readonly cert: string
  readonly key: Redacted.Redacted<string>
  /** Where `cert` was read from (absolute): the hooks in the sessions trust exactly it. */
  readonly certFile: string
}

export interface DaemonSettings {
  readonly computer: string
  readonly version: string
  /** `None`: local-only. */
  readonly fleet: Option.Option<FleetSettings>
  /** An IP address (IPv6 without brackets) or a host name. */
  readonly host: string
  /** `0`: any free port (the printed URL says which). */
  readonly port: number
  readonly tls: Option.Option<TlsSettings>
  /** Prefix of every Redis key, so several fleets can share one Redis. */
  readonly prefix: string
  /** Name of the private tmux server (`tmux -L`). */
  readonly tmuxSocket: string
  readonly projects: ReadonlyArray<string>
  /** Every HTTP request and WebSocket upgrade must present it. */
  readonly token: Redacted.Redacted<string>
  /** Where the token, the fleet secret and the replay windows are kept. */
  readonly stateDir: string
  /** Replace a live daemon already running as `computer` (it stops) instead of refusing to start. */
  readonly takeOver: boolean
  /** The shell a session runs its command with. */
  readonly shell: string
  /** How often presence is written (its key expires after 60 s). */
  readonly heartbeatMillis: number
  /** How often peers are looked up; bounds how long a vanished peer stays on dashboards past its expiry. */
  readonly discoveryMillis: number
  /** Where to POST an event when an agent session of this computer starts waiting or finishes. */
  readonly notifyUrl: Option.Option<string>
  /** The dashboard's address as people open it, for links to it (`None`: the address listened on). */
  readonly publicUrl: Option.Option<string>
  readonly limits: ServerLimits
}

export const VERSION = "0.1.0"

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 7420

/** Settings for a daemon built in code (tests, benchmarks): local-only on loopback, a fresh token, `overrides` on top. */
export const defaultSettings = (overrides: Partial<DaemonSettings> = {}): DaemonSettings => ({
  computer: "localhost",
  version: VERSION,
  fleet: Option.none(),
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  tls: Option.none(),
  prefix: "termfleet:",
  tmuxSocket: "termfleet",
  projects: [],
  token: Redacted.make(randomBytes(24).toString("base64url")),
  // Never the user's own: a test must not touch it.
  stateDir: join(tmpdir(), `termfleet-state-${randomBytes(6).toString("hex")}`),
  takeOver: false,
  shell: "/bin/sh",
  heartbeatMillis: 20_000,
  discoveryMillis: 5_000,
  notifyUrl: Option.none(),
  publicUrl: Option.none(),
  limits: defaultLimits,
  ...overrides
})

export class DaemonConfig extends Context.Tag("termfleet/DaemonConfig")<DaemonConfig, DaemonSettings>() {
  static readonly layer = (settings: DaemonSettings) => Layer.succeed(DaemonConfig, settings)
}
