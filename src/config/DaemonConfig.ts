/**
 * The settings a daemon runs with. Built from flags and env vars by `Cli.ts`,
 * or directly by tests.
 */
import { Context, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { homedir, hostname } from "node:os"
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

export interface DaemonSettings {
  readonly computer: string
  readonly version: string
  readonly redisUrl: Option.Option<string>
  readonly host: string
  readonly port: number
  /** Prefix of every Redis key, so several fleets can share one Redis. */
  readonly prefix: string
  /** Name of the private tmux server (`tmux -L`). */
  readonly tmuxSocket: string
  readonly projects: ReadonlyArray<string>
  /** Every HTTP request and WebSocket upgrade must present it. */
  readonly token: string
  /** Shared by every daemon of a fleet; seals what they write to each other (`Seal.ts`). */
  readonly fleetSecret: Option.Option<string>
  /** Where the token and the fleet secret are kept. */
  readonly stateDir: string
  /** Replace a live daemon already running as `computer` (it stops) instead of refusing to start. */
  readonly takeOver: boolean
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

/** `$XDG_STATE_HOME/termfleet`, else `~/.local/state/termfleet`. */
export const defaultStateDir = (env: Readonly<Record<string, string | undefined>> = process.env) =>
  join(env["XDG_STATE_HOME"] || join(homedir(), ".local", "state"), "termfleet")

export const defaultSettings = (overrides: Partial<DaemonSettings> = {}): DaemonSettings => ({
  computer: hostname().split(".")[0] || "localhost",
  version: VERSION,
  redisUrl: Option.none(),
  host: "127.0.0.1",
  port: 7420,
  prefix: "termfleet:",
  tmuxSocket: "termfleet",
  projects: [],
  token: randomBytes(24).toString("base64url"),
  fleetSecret: Option.none(),
  stateDir: defaultStateDir(),
  takeOver: false,
  heartbeatMillis: 20_000,
  discoveryMillis: 5_000,
  notifyUrl: Option.none(),
  limits: defaultLimits,
  ...overrides
})

export class DaemonConfig extends Context.Tag("termfleet/DaemonConfig")<DaemonConfig, DaemonSettings>() {
  static readonly layer = (settings: DaemonSettings) => Layer.succeed(DaemonConfig, settings)
}
