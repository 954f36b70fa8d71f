/**
 * The settings a daemon runs with, read once at start from flags and env
 * vars (`DaemonFlags.ts`, `Secrets.ts`), or built directly by tests with
 * `defaultSettings`.
 */
import { Context, Layer, Option, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Limits {
  /** Frames a slow WebSocket client may have queued before it is closed (1013). */
  readonly clientQueue: number
  /** Bytes a WebSocket client may leave unread in the socket before it is closed (1013). */
  readonly clientBufferBytes: number
  /** Largest WebSocket frame accepted from a client, in bytes (bigger: close 1009). */
  readonly maxFrameBytes: number
  /** Concurrent WebSocket clients per daemon. */
  readonly maxClients: number
  /** Approximate length each peer's event stream is trimmed to. */
  readonly streamMaxLen: number
  /** Entries read per blocking XREAD. */
  readonly readBatch: number
  /** Largest HTTP request body, in bytes. */
  readonly maxBodyBytes: number
  /** Writes (create, input, end) accepted per second, with bursts up to `writeBurst`; more get 429. */
  readonly writesPerSecond: number
  readonly writeBurst: number
  /** `--notify-url`: each try's timeout, the retries after a failed one, the first backoff (doubling). */
  readonly notifyTimeoutMillis: number
  readonly notifyRetries: number
  readonly notifyBackoffMillis: number
}

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
  readonly limits: Limits
}

export const defaultLimits: Limits = {
  clientQueue: 1024,
  clientBufferBytes: 8 * 1024 * 1024,
  maxFrameBytes: 64 * 1024,
  maxClients: 256,
  streamMaxLen: 10_000,
  readBatch: 512,
  maxBodyBytes: 256 * 1024,
  writesPerSecond: 20,
  writeBurst: 60,
  notifyTimeoutMillis: 5000,
  notifyRetries: 3,
  notifyBackoffMillis: 500
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
  limits: defaultLimits,
  ...overrides
})

export class DaemonConfig extends Context.Tag("termfleet/DaemonConfig")<DaemonConfig, DaemonSettings>() {
  static readonly layer = (settings: DaemonSettings) => Layer.succeed(DaemonConfig, settings)
}
